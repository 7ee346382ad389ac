/*
 * sdunit_test.c - systemd unit (de)serialization with go-systemd's rules and the
 * Gardener command-line helpers.
 */
#include "engine/base/common.h"
#include "webhook/sdunit.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

/* The canonical form: what go-systemd's Serialize gives for these options. */
static const char canonical[] = "[Unit]\n"
                                "Description=kubelet daemon\n"
                                "After=containerd.service\n"
                                "\n"
                                "[Install]\n"
                                "WantedBy=multi-user.target\n"
                                "\n"
                                "[Service]\n"
                                "Restart=always\n"
                                "ExecStart=/opt/bin/kubelet \\\n"
                                "    --config=/var/lib/kubelet/config/kubelet\n";

static void test_roundtrip_canonical(void) {
  struct sdunit u;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, sdunit_parse(canonical, strlen(canonical), &u, &err));
  ASSERT_EQ(5, u.n);
  struct sdunit_option *o = sdunit_find(&u, "Service", "ExecStart");
  ASSERT(o);
  ASSERT_STR_EQ("/opt/bin/kubelet \\\n    --config=/var/lib/kubelet/config/kubelet", o->value);
  char *s = sdunit_serialize(&u);
  ASSERT_STR_EQ(canonical, s);
  free(s);
  sdunit_release(&u);
}

static void test_normalisation(void) {
  /* Comments, blank lines, spaces around "=", text before the first section, sections met twice. */
  const char *in =
      "garbage=ignored\n# comment \\\n  continued comment\n[Unit]\n  Description = x  \n; c\n\n"
      "[Service]\nExecStart=/bin/a \\\n  --b\n[Unit]\nAfter=y\n";
  struct sdunit u;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, sdunit_parse(in, strlen(in), &u, &err));
  char *s = sdunit_serialize(&u);
  ASSERT_STR_EQ("[Unit]\nDescription=x\nAfter=y\n\n[Service]\nExecStart=/bin/a \\\n  --b\n", s);
  free(s);
  sdunit_release(&u);
}

static void test_errors(void) {
  struct sdunit u;
  struct eng_error err;
  ASSERT_EQ(ENG_INVALID, sdunit_parse("[Unit", 5, &u, &err));
  ASSERT_CONTAINS(err.msg, "end of section");
  ASSERT_EQ(ENG_INVALID, sdunit_parse("[Unit] x\n", 9, &u, &err));
  ASSERT_CONTAINS(err.msg, "garbage after section name Unit");
  ASSERT_EQ(ENG_INVALID, sdunit_parse("[Unit]\nNoEquals\nX=y\n", 19, &u, &err));
  ASSERT_CONTAINS(err.msg, "newline");
  char *long_line = xmalloc(3000);
  memset(long_line, 'a', 2999);
  long_line[2999] = '\0';
  memcpy(long_line, "[Unit]\nX=", 9);
  ASSERT_EQ(ENG_INVALID, sdunit_parse(long_line, strlen(long_line), &u, &err));
  ASSERT_CONTAINS(err.msg, "too long");
  free(long_line);
}

static void test_cmdline(void) {
  struct cmdline c;
  cmdline_split("/opt/bin/kubelet \\\n    --a=1 \\\n    --cloud-provider=aws", &c);
  ASSERT_EQ(3, c.argc);
  cmdline_ensure_prefix(&c, "--cloud-provider=", "external");
  cmdline_ensure_prefix(&c, "--root-dir=", "/var/lib/containerd");
  char *s = cmdline_join(&c, 1, " \\\n    ");
  ASSERT_STR_EQ("/opt/bin/kubelet --a=1 \\\n    --cloud-provider=external \\\n    "
                "--root-dir=/var/lib/containerd",
                s);
  free(s);
  s = cmdline_join(&c, 0, ",");
  ASSERT_STR_EQ("/opt/bin/kubelet,--a=1,--cloud-provider=external,--root-dir=/var/lib/containerd",
                s);
  free(s);
  s = cmdline_join(&c, 9, "|");
  ASSERT_STR_EQ("/opt/bin/kubelet --a=1 --cloud-provider=external --root-dir=/var/lib/containerd",
                s);
  free(s);
  cmdline_release(&c);
  /* Leading separators give an empty first word, as Go's regexp Split does. */
  cmdline_split(" a", &c);
  ASSERT_EQ(2, c.argc);
  ASSERT_STR_EQ("", c.argv[0]);
  cmdline_release(&c);
}

int main(void) {
  xalloc_init();
  TEST(test_roundtrip_canonical);
  TEST(test_normalisation);
  TEST(test_errors);
  TEST(test_cmdline);
  return tap_done();
}
