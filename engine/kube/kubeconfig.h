/*
 * kubeconfig.h - where kube-apiserver is and how to authenticate to it.
 *
 * Sources, in controller-runtime's order (kube_config_load()):
 *   1. an explicit kubeconfig path (--kubeconfig),
 *   2. $KUBECONFIG (a ':'-separated list merged like clientcmd: for every named
 *      cluster/user/context and for current-context the first file that sets it wins),
 *   3. in-cluster: $KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT plus the
 *      service-account directory (token, ca.crt, namespace),
 *   4. $HOME/.kube/config.
 *
 * Supported kubeconfig fields: clusters[].cluster.{server, certificate-authority,
 * certificate-authority-data, insecure-skip-tls-verify, tls-server-name (ignored, with a
 * warning)}, users[].user.{token, tokenFile, client-certificate(-data), client-key(-data)},
 * contexts[].context.{cluster, user, namespace}, current-context. Relative paths are
 * relative to the directory of the kubeconfig file that names them. *-data fields are
 * decoded (base64) and put into anonymous memory files (memfd), so the rest of the
 * program only deals with paths. exec / auth-provider / username+password users are
 * refused with a sentence saying so.
 *
 * Every error names the file and the field, e.g.
 *   kubeconfig /x: user "admin" has client-certificate-data that is not valid base64
 *
 * The service-account directory defaults to /var/run/secrets/kubernetes.io/serviceaccount
 * and can be moved with $EQXM_SERVICEACCOUNT_DIR (tests).
 */
#ifndef EQXM_KUBE_KUBECONFIG_H
#define EQXM_KUBE_KUBECONFIG_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#define KUBE_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_SA_DIR_ENV     "EQXM_SERVICEACCOUNT_DIR"

struct kube_config {
  char *server;           /* "https://host:port[/prefix]" without a trailing '/' */
  char *ca_path;          /* PEM bundle (a file or a memfd path); NULL = system trust store */
  char *client_cert_path; /* PEM client certificate, or NULL */
  char *client_key_path;  /* PEM client key, or NULL */
  bool insecure;          /* insecure-skip-tls-verify */
  char *token;            /* static bearer token (a secret, registered with the logger), or NULL */
  char *token_file;       /* bearer token file, re-read periodically (projected tokens), or NULL */
  char *namespace;        /* the context's namespace, the pod's namespace, or "default" */
  char *context;          /* context name, or "in-cluster" */
  char *source;           /* "kubeconfig /path" or "in-cluster configuration": for messages */
  char *warning;          /* a non-fatal remark for the operator (ignored fields), or NULL */
  int fds[3];             /* memfds behind *-data paths; -1 when unused (private) */
};

/* Zero the struct (fds = -1). Safe to kube_config_free() afterwards. */
void kube_config_init(struct kube_config *cfg);
/* Free every field and close the memfds; the struct is left initialised (reusable). */
void kube_config_free(struct kube_config *cfg);

/*
 * Load a kubeconfig file (or several, separated by ':', merged as clientcmd does).
 * context: use this context instead of current-context (NULL = current-context).
 * On error cfg is left initialised and empty.
 */
enum eng_err kube_config_load_file(const char *paths, const char *context, struct kube_config *cfg,
                                   struct eng_error *err) WARN_UNUSED;

/*
 * Parse kubeconfig YAML from memory. name is used in messages ("kubeconfig NAME: ...");
 * base_dir resolves relative paths (NULL = current directory).
 */
enum eng_err kube_config_parse(const char *yaml, size_t len, const char *name, const char *base_dir,
                               const char *context, struct kube_config *cfg,
                               struct eng_error *err) WARN_UNUSED;

/* In-cluster configuration (client-go rest.InClusterConfig). ENG_NOTFOUND when the
 * KUBERNETES_SERVICE_HOST/PORT variables are not both set ("not running in a cluster"). */
enum eng_err kube_config_in_cluster(struct kube_config *cfg, struct eng_error *err) WARN_UNUSED;

/* The precedence chain described above. explicit_path may be NULL or "". */
enum eng_err kube_config_load(const char *explicit_path, const char *context,
                              struct kube_config *cfg, struct eng_error *err) WARN_UNUSED;

/* Deep copy (memfd-backed paths are re-created). */
void kube_config_copy(struct kube_config *dst, const struct kube_config *src);

#endif
