/*
 * kubeconfig_test.c - kubeconfig parsing (every field form), merging of KUBECONFIG lists,
 * in-cluster configuration with a moved service-account directory, the precedence chain,
 * and every kind of bad input with the sentence it produces.
 */
#include "engine/base/common.h"
#include "engine/kube/kubeconfig.h"
#include "engine/base/b64.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char CA_PEM[] = "-----BEGIN CERTIFICATE-----\nQ0FDQUNB\n-----END CERTIFICATE-----\n";
static const char CERT_PEM[] = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
static const char KEY_PEM[] = "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";

static char *path_in(const char *name) { return xasprintf("%s/%s", tmpdir, name); }

static void write_file(const char *name, const char *content) {
  char *p = path_in(name);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs(content, f);
    fclose(f);
  }
  free(p);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = xcalloc(1, 65536);
  size_t n = fread(buf, 1, 65535, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static enum eng_err parse(const char *yaml, struct kube_config *cfg, struct eng_error *err) {
  eng_error_clear(err);
  return kube_config_parse(yaml, strlen(yaml), "/x", tmpdir, NULL, cfg, err);
}

static void test_data_fields(void) {
  char *ca = b64_encode(CA_PEM, strlen(CA_PEM));
  char *cert = b64_encode(CERT_PEM, strlen(CERT_PEM));
  char *key = b64_encode(KEY_PEM, strlen(KEY_PEM));
  char *yaml =
      xasprintf("apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
                "clusters:\n- name: c1\n  cluster:\n    server: https://api.example:6443/\n"
                "    certificate-authority-data: %s\n"
                "users:\n- name: admin\n  user:\n    client-certificate-data: %s\n"
                "    client-key-data: %s\n    token: sekrit-token-1234\n"
                "contexts:\n- name: prod\n  context:\n    cluster: c1\n    user: admin\n"
                "    namespace: garden\n",
                ca, cert, key);
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, parse(yaml, &cfg, &err));
  ASSERT_STR_EQ("https://api.example:6443", cfg.server);
  ASSERT_STR_EQ("garden", cfg.namespace);
  ASSERT_STR_EQ("prod", cfg.context);
  ASSERT_STR_EQ("sekrit-token-1234", cfg.token);
  ASSERT(!cfg.insecure);
  ASSERT(cfg.token_file == NULL);
  ASSERT_CONTAINS(cfg.ca_path, "/proc/self/fd/");
  char *got = slurp(cfg.ca_path);
  ASSERT_STR_EQ(CA_PEM, got);
  free(got);
  got = slurp(cfg.client_key_path);
  ASSERT_STR_EQ(KEY_PEM, got);
  free(got);
  /* A copy has its own memory files that outlive the original. */
  struct kube_config copy;
  kube_config_copy(&copy, &cfg);
  kube_config_free(&cfg);
  got = slurp(copy.client_cert_path);
  ASSERT_STR_EQ(CERT_PEM, got);
  free(got);
  /* The token is registered as a secret: scrubbed text never shows it. */
  char *scrubbed = log_scrub("token is sekrit-token-1234");
  ASSERT_NOT_CONTAINS(scrubbed, "sekrit-token-1234");
  free(scrubbed);
  kube_config_free(&copy);
  free(yaml);
  free(ca);
  free(cert);
  free(key);
}

static void test_path_fields_relative(void) {
  write_file("ca.crt", CA_PEM);
  write_file("client.crt", CERT_PEM);
  write_file("client.key", KEY_PEM);
  write_file("token", "tok-from-file\n");
  char *kc = path_in("kubeconfig");
  write_file("kubeconfig", "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
                           "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:8080\n"
                           "    certificate-authority: ca.crt\n"
                           "users:\n- name: u\n  user:\n    client-certificate: client.crt\n"
                           "    client-key: ./client.key\n    tokenFile: token\n"
                           "contexts:\n- name: dev\n  context: {cluster: c, user: u}\n");
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, kube_config_load_file(kc, NULL, &cfg, &err));
  char *want = path_in("ca.crt");
  ASSERT_STR_EQ(want, cfg.ca_path);
  free(want);
  want = path_in("./client.key");
  ASSERT_STR_EQ(want, cfg.client_key_path);
  free(want);
  want = path_in("token");
  ASSERT_STR_EQ(want, cfg.token_file);
  free(want);
  ASSERT_STR_EQ("default", cfg.namespace);
  ASSERT_STR_EQ("http://127.0.0.1:8080", cfg.server);
  ASSERT_CONTAINS(cfg.source, kc);
  kube_config_free(&cfg);
  free(kc);
}

static void test_insecure_and_context_override(void) {
  const char *yaml =
      "kind: Config\ncurrent-context: a\n"
      "clusters:\n- name: ca\n  cluster: {server: 'https://a:1'}\n"
      "- name: cb\n  cluster:\n    server: https://b:2\n    insecure-skip-tls-verify: true\n"
      "users:\n- name: anon\n  user: {}\n"
      "contexts:\n- name: a\n  context: {cluster: ca, user: anon}\n"
      "- name: b\n  context: {cluster: cb, namespace: ns-b}\n";
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, kube_config_parse(yaml, strlen(yaml), "/x", tmpdir, "b", &cfg, &err));
  ASSERT_STR_EQ("https://b:2", cfg.server);
  ASSERT(cfg.insecure);
  ASSERT_STR_EQ("ns-b", cfg.namespace);
  ASSERT(cfg.token == NULL && cfg.client_cert_path == NULL);
  kube_config_free(&cfg);
  ASSERT_EQ(ENG_OK, parse(yaml, &cfg, &err));
  ASSERT_STR_EQ("https://a:1", cfg.server);
  ASSERT(!cfg.insecure);
  kube_config_free(&cfg);
}

static void test_kubeconfig_list_merge(void) {
  write_file("k1", "kind: Config\ncurrent-context: m\n"
                   "contexts:\n- name: m\n  context: {cluster: shared, user: u}\n"
                   "clusters:\n- name: shared\n  cluster: {server: 'https://first:1'}\n");
  write_file("k2", "kind: Config\ncurrent-context: other\n"
                   "clusters:\n- name: shared\n  cluster: {server: 'https://second:2'}\n"
                   "users:\n- name: u\n  user: {token: tok-k2-abcd}\n");
  char *list = xasprintf("%s/k1:%s/missing:%s/k2", tmpdir, tmpdir, tmpdir);
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, kube_config_load_file(list, NULL, &cfg, &err));
  ASSERT_STR_EQ("https://first:1", cfg.server); /* the first file defining a name wins */
  ASSERT_STR_EQ("tok-k2-abcd", cfg.token);
  ASSERT_STR_EQ("m", cfg.context);
  kube_config_free(&cfg);
  free(list);
}

struct bad_case {
  const char *yaml;
  const char *message;
};

static void test_bad_inputs(void) {
  char *unreadable_ca = xasprintf("kind: Config\ncurrent-context: x\n"
                                  "clusters:\n- name: c\n  cluster:\n    server: https://a\n"
                                  "    certificate-authority: %s/no-such-ca.crt\n"
                                  "contexts:\n- name: x\n  context: {cluster: c}\n",
                                  tmpdir);
  const struct bad_case cases[] = {
      {"clusters: [unclosed\n", "kubeconfig /x is not valid YAML"},
      {"", "kubeconfig /x is empty"},
      {"- a\n- b\n", "kubeconfig /x: the top level is not a mapping"},
      {"kind: Pod\n", "kubeconfig /x has kind \"Pod\""},
      {"kind: Config\nclusters: []\n", "kubeconfig /x: no current-context is set"},
      {"kind: Config\ncurrent-context: nope\ncontexts: []\n",
       "kubeconfig /x: current-context \"nope\" names a context that is not defined"},
      {"kind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {cluster: gone}\n",
       "kubeconfig /x: context \"x\" names cluster \"gone\", which is not defined in clusters"},
      {"kind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {user: u}\n",
       "kubeconfig /x: context \"x\" names no cluster"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://a'}\n"
       "contexts:\n- name: x\n  context: {cluster: c, user: ghost}\n",
       "kubeconfig /x: context \"x\" names user \"ghost\", which is not defined in users"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://a'}\n"
       "users:\n- name: admin\n  user: {client-certificate-data: '!!!notbase64', client-key-data: "
       "'QQ=='}\n"
       "contexts:\n- name: x\n  context: {cluster: c, user: admin}\n",
       "kubeconfig /x: user \"admin\" has client-certificate-data that is not valid base64"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://a\n"
       "    certificate-authority-data: aGVsbG8=\ncontexts:\n- name: x\n  context: {cluster: c}\n",
       "kubeconfig /x: cluster \"c\" has certificate-authority-data that does not decode to PEM"},
      {unreadable_ca, "which cannot be read: No such file or directory"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {}\n"
       "contexts:\n- name: x\n  context: {cluster: c}\n",
       "kubeconfig /x: cluster \"c\" has no server URL"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'ftp://a'}\n"
       "contexts:\n- name: x\n  context: {cluster: c}\n",
       "kubeconfig /x: cluster \"c\" has server \"ftp://a\", which is not an https:// or http:// "
       "URL"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: "
       "'api.example:443'}\n"
       "contexts:\n- name: x\n  context: {cluster: c}\n",
       "which is not an https:// or http:// URL"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://'}\n"
       "contexts:\n- name: x\n  context: {cluster: c}\n",
       "which names no host"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://a'}\n"
       "users:\n- name: u\n  user: {tokenFile: /nonexistent/token}\n"
       "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
       "kubeconfig /x: user \"u\" has tokenFile /nonexistent/token, which cannot be read"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://a'}\n"
       "users:\n- name: u\n  user:\n    exec: {command: aws}\n"
       "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
       "kubeconfig /x: user \"u\" authenticates with exec, which is not supported"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://a'}\n"
       "users:\n- name: u\n  user: {client-certificate-data: "
       "'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=='}\n"
       "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
       "kubeconfig /x: user \"u\" has a client certificate but no client key"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://a\n"
       "    insecure-skip-tls-verify: true\n"
       "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
       "contexts:\n- name: x\n  context: {cluster: c}\n",
       "sets insecure-skip-tls-verify together with a certificate authority"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://a\n"
       "    insecure-skip-tls-verify: maybe\ncontexts:\n- name: x\n  context: {cluster: c}\n",
       "has insecure-skip-tls-verify \"maybe\", which is neither true nor false"},
      {"kind: Config\ncurrent-context: x\nclusters: {c: 1}\n",
       "kubeconfig /x: clusters is not a list"},
      {"kind: Config\ncurrent-context: x\nusers:\n- user: {}\n",
       "kubeconfig /x: entry 1 of users has no name"},
      {"kind: Config\ncurrent-context: [a]\n", "kubeconfig /x: current-context is not a string"},
      {"kind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: [1]}\n"
       "contexts:\n- name: x\n  context: {cluster: c}\n",
       "kubeconfig /x: cluster \"c\" has a server that is not a string"},
      {"a: &a [*a]\n", "kubeconfig /x"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    struct kube_config cfg;
    struct eng_error err;
    enum eng_err rc = parse(cases[i].yaml, &cfg, &err);
    ASSERT_MSG(rc != ENG_OK, "case %zu was accepted", i);
    ASSERT_MSG(strstr(err.msg, cases[i].message), "case %zu: expected \"%s\" in \"%s\"", i,
               cases[i].message, err.msg);
    ASSERT(cfg.server == NULL && cfg.fds[0] == -1 && cfg.fds[1] == -1);
    kube_config_free(&cfg);
  }
  free(unreadable_ca);
  /* A file that does not exist. */
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_CONFIG, kube_config_load_file("/nonexistent/kubeconfig", NULL, &cfg, &err));
  ASSERT_CONTAINS(err.msg, "kubeconfig /nonexistent/kubeconfig cannot be read: No such file");
  kube_config_free(&cfg);
}

static void make_sa_dir(const char *ns) {
  char *d = path_in("sa");
  mkdir(d, 0700);
  free(d);
  write_file("sa/token", "in-cluster-token-xyz\n");
  write_file("sa/ca.crt", CA_PEM);
  char *nsf = path_in("sa/namespace");
  unlink(nsf);
  free(nsf);
  if (ns)
    write_file("sa/namespace", ns);
}

static void test_in_cluster(void) {
  make_sa_dir("shoot--p--s\n");
  char *d = path_in("sa");
  setenv(KUBE_SA_DIR_ENV, d, 1);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_NOTFOUND, kube_config_in_cluster(&cfg, &err));
  ASSERT_CONTAINS(err.msg, "not running in a cluster");
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  ASSERT_EQ(ENG_OK, kube_config_in_cluster(&cfg, &err));
  ASSERT_STR_EQ("https://10.0.0.1:443", cfg.server);
  ASSERT_STR_EQ("shoot--p--s", cfg.namespace);
  ASSERT_CONTAINS(cfg.token_file, "/sa/token");
  ASSERT_CONTAINS(cfg.ca_path, "/sa/ca.crt");
  ASSERT(cfg.token == NULL);
  ASSERT_STR_EQ("in-cluster", cfg.context);
  kube_config_free(&cfg);
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  ASSERT_EQ(ENG_OK, kube_config_in_cluster(&cfg, &err));
  ASSERT_STR_EQ("https://[fd00::1]:443", cfg.server);
  kube_config_free(&cfg);
  /* Without a token the error says what to check. */
  char *tok = path_in("sa/token");
  unlink(tok);
  ASSERT_EQ(ENG_CONFIG, kube_config_in_cluster(&cfg, &err));
  ASSERT_CONTAINS(err.msg, "service account token");
  ASSERT_CONTAINS(err.msg, tok);
  kube_config_free(&cfg);
  free(tok);
  free(d);
}

static void test_precedence(void) {
  make_sa_dir(NULL);
  char *d = path_in("sa");
  setenv(KUBE_SA_DIR_ENV, d, 1);
  free(d);
  write_file("explicit", "kind: Config\ncurrent-context: e\nclusters:\n- name: c\n  cluster: "
                         "{server: 'https://explicit'}\n"
                         "contexts:\n- name: e\n  context: {cluster: c}\n");
  write_file(
      "envcfg",
      "kind: Config\ncurrent-context: e\nclusters:\n- name: c\n  cluster: {server: 'https://env'}\n"
      "contexts:\n- name: e\n  context: {cluster: c}\n");
  char *home = path_in("home");
  mkdir(home, 0700);
  char *kd = path_in("home/.kube");
  mkdir(kd, 0700);
  write_file("home/.kube/config", "kind: Config\ncurrent-context: e\nclusters:\n- name: c\n  "
                                  "cluster: {server: 'https://home'}\n"
                                  "contexts:\n- name: e\n  context: {cluster: c}\n");
  setenv("HOME", home, 1);
  char *exp = path_in("explicit"), *env = path_in("envcfg");
  setenv("KUBECONFIG", env, 1);
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  struct kube_config cfg;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, kube_config_load(exp, NULL, &cfg, &err));
  ASSERT_STR_EQ("https://explicit", cfg.server);
  kube_config_free(&cfg);
  ASSERT_EQ(ENG_OK, kube_config_load(NULL, NULL, &cfg, &err));
  ASSERT_STR_EQ("https://env", cfg.server);
  kube_config_free(&cfg);
  unsetenv("KUBECONFIG");
  ASSERT_EQ(ENG_OK, kube_config_load("", NULL, &cfg, &err));
  ASSERT_STR_EQ("https://10.0.0.1:443", cfg.server);
  ASSERT_STR_EQ("default", cfg.namespace);
  kube_config_free(&cfg);
  unsetenv("KUBERNETES_SERVICE_HOST");
  ASSERT_EQ(ENG_OK, kube_config_load(NULL, NULL, &cfg, &err));
  ASSERT_STR_EQ("https://home", cfg.server);
  kube_config_free(&cfg);
  setenv("HOME", tmpdir, 1); /* no .kube/config there */
  ASSERT_EQ(ENG_CONFIG, kube_config_load(NULL, NULL, &cfg, &err));
  ASSERT_CONTAINS(err.msg, "no Kubernetes configuration found");
  kube_config_free(&cfg);
  free(exp);
  free(env);
  free(home);
  free(kd);
}

static void cleanup(void) {
  char *cmd = xasprintf("rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", tmpdir);
  free(cmd);
}

int main(void) {
  xalloc_init();
  snprintf(tmpdir, sizeof(tmpdir), "%s/kubeconfig-test-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir))
    return 1;
  TEST(test_data_fields);
  TEST(test_path_fields_relative);
  TEST(test_insecure_and_context_override);
  TEST(test_kubeconfig_list_merge);
  TEST(test_bad_inputs);
  TEST(test_in_cluster);
  TEST(test_precedence);
  cleanup();
  log_forget_all_secrets();
  return tap_done();
}
