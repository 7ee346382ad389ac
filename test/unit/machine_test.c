/*
 * machine_test.c - the machine controller's pure parts: Go durations, MCM's bootstrap token
 * id, the userdata substitution, and the reducer's first steps (inert without its engine.start
 * configuration; the finalizer first; nothing for a Machine whose class lacks our finalizer;
 * the same events give the same actions).
 */
#include "engine/base/common.h"
#include "engine/base/xalloc.h"
#include "engine/decide/decider.h"
#include "providers/equinix-metal/act/exec_machine.h"
#include "providers/equinix-metal/controllers/machine.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static void test_durations(void) {
  int64_t ms = 0;
  ASSERT(machine_parse_duration("20m", &ms));
  ASSERT_EQ(1200000, ms);
  ASSERT(machine_parse_duration("1h30m", &ms));
  ASSERT_EQ(5400000, ms);
  ASSERT(machine_parse_duration("10m0s", &ms));
  ASSERT_EQ(600000, ms);
  ASSERT(machine_parse_duration("500ms", &ms));
  ASSERT_EQ(500, ms);
  ASSERT(machine_parse_duration("1.5s", &ms));
  ASSERT_EQ(1500, ms);
  ASSERT(!machine_parse_duration("", &ms));
  ASSERT(!machine_parse_duration("20", &ms));
  ASSERT(!machine_parse_duration("5x", &ms));
  ASSERT(!machine_parse_duration("-1s", &ms));
}

static void test_token_id(void) {
  char id[7];
  /* hex of the last 5 bytes "abcde" is 6162636465; the first 6 digits. */
  machine_token_id("pool-a-abcde", id);
  ASSERT_STR_EQ("616263", id);
  machine_token_id("ab", id);
  ASSERT_STR_EQ("6162", id);
}

static void test_userdata(void) {
  char *u = exec_machine_userdata("t=<<BOOTSTRAP_TOKEN>> n=<<MACHINE_NAME>> t2=<<BOOTSTRAP_TOKEN>>",
                                  "abc123.0123456789abcdef", "m-1");
  ASSERT_STR_EQ("t=abc123.0123456789abcdef n=m-1 t2=abc123.0123456789abcdef", u);
  free(u);
  u = exec_machine_userdata("t=%3C%3CBOOTSTRAP_TOKEN%3E%3E&n=%3C%3CMACHINE_NAME%3E%3E", "a.b",
                            "m 1");
  ASSERT_STR_EQ("t=a.b&n=m%201", u);
  free(u);
  u = exec_machine_userdata("nothing to replace", "a.b", "m");
  ASSERT_STR_EQ("nothing to replace", u);
  free(u);
}

static int64_t seq;

static void feed(struct decider *d, const char *src, const char *type, const char *gk,
                 const char *ns, const char *name, const char *payload, struct action_list *added) {
  json_error_t je;
  json_t *p = json_loads(payload, 0, &je);
  struct action_list removed = {0};
  struct reduce_event ev = {++seq, 1796000000000 + seq, src, type, gk, ns, name, "", "", "", p};
  decider_feed(d, &ev, added, &removed);
  action_list_clear(&removed);
  json_decref(p);
}

#define NS "shoot--a--b"
#define CLASS_NOFIN                                                                                \
  "{\"metadata\":{\"name\":\"c1\",\"namespace\":\"" NS "\",\"uid\":\"u-c1\",\"resourceVersion\":"  \
  "\"5\"},\"providerSpec\":{\"projectID\":\"p\",\"OS\":\"flatcar_stable\",\"machineType\":"        \
  "\"c3.small.x86\",\"metro\":\"sv\",\"tags\":[\"kubernetes.io/cluster/x\",\"kubernetes.io/role/"  \
  "node\"]},\"secretRef\":{\"name\":\"c1\"},\"credentialsSecretRef\":{\"name\":\"cloudprovider\"}" \
  "}"
#define MACHINE                                                                                    \
  "{\"metadata\":{\"name\":\"m1\",\"namespace\":\"" NS "\",\"uid\":\"u-m1\",\"resourceVersion\":"  \
  "\"7\",\"creationTimestamp\":\"2026-12-01T00:00:00Z\",\"labels\":{\"name\":\"pool\"}},"          \
  "\"spec\":{\"class\":{\"kind\":\"MachineClass\",\"name\":\"c1\"}}}"

static bool has_kind(const struct action_list *l, const char *kind, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i].kind, kind) && (!name || !strcmp(l->v[i].name, name)))
      return true;
  return false;
}

static void run_scenario(bool configured, struct action_list *all) {
  const struct reducer *reds[] = {&metal_machine_reducer};
  struct decider *d = decider_new(reds, 1);
  feed(d, "engine", "engine.start", "", "", "",
       configured ? "{\"controllers\":{\"machine\":{\"namespace\":\"" NS "\"}}}"
                  : "{\"controllers\":{\"infrastructure\":{}}}",
       all);
  feed(d, "kube", "kube.added", "machine.sapcloud.io/MachineClass", NS, "c1", CLASS_NOFIN, all);
  feed(d, "kube", "kube.added", "machine.sapcloud.io/Machine", NS, "m1", MACHINE, all);
  decider_free(d);
}

static void test_reducer_inert_without_config(void) {
  struct action_list all = {0};
  run_scenario(false, &all);
  ASSERT_EQ(0, all.n);
  action_list_clear(&all);
}

static void test_reducer_first_steps(void) {
  struct action_list all = {0};
  run_scenario(true, &all);
  ASSERT(has_kind(&all, "kube.patch", "m1")); /* the Machine's finalizer */
  ASSERT(has_kind(&all, "kube.patch", "c1")); /* the class's finalizer: a Machine uses it */
  ASSERT(!has_kind(&all, "machine.token.ensure", NULL)); /* the class lacks our finalizer yet */
  ASSERT(!has_kind(&all, "metal.device.create", NULL));
  struct action_list again = {0};
  run_scenario(true, &again);
  ASSERT_EQ(all.n, again.n);
  for (size_t i = 0; i < all.n; i++)
    ASSERT(action_equal(&all.v[i], &again.v[i]));
  action_list_clear(&all);
  action_list_clear(&again);
}

int main(void) {
  xalloc_init();
  TEST(test_durations);
  TEST(test_token_id);
  TEST(test_userdata);
  TEST(test_reducer_inert_without_config);
  TEST(test_reducer_first_steps);
  return tap_done();
}
