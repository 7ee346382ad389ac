/*
 * mutate.h - the mutations of the Go original, as pure functions.
 *
 * Each webhook has a "needs" function, which says from the admission request
 * alone which context the mutation will read (so the server fetches only that),
 * and a mutate function, which edits obj (a private copy of the admitted object)
 * in place using only obj, the request and the context. No I/O, no clock: the
 * same input always gives the same object. The server turns the difference
 * between the admitted object and obj into the JSONPatch of the response.
 *
 * A mutate function returns ENG_OK (obj may or may not have changed), or an error
 * whose message becomes the denial the apiserver shows (the Go original denies
 * with the same sentences, e.g. "multiple operatingsystems used: ...").
 */
#ifndef EQXM_MUTATE_H
#define EQXM_MUTATE_H

#include "engine/base/common.h"
#include "webhook/admission.h"
#include "webhook/definition.h"
#include "engine/base/err.h"

#include <jansson.h>

/* Context a mutation may need (bit mask). */
#define MUTATE_NEED_CLUSTER       WH_NEED_CLUSTER /* the Cluster named after the object's namespace */
#define MUTATE_NEED_INFRA         WH_NEED_INFRA /* the shoot's Infrastructure (implies the Cluster) */
#define MUTATE_NEED_CLOUDPROVIDER WH_NEED_CLOUDPROVIDER /* checksum of Secret "cloudprovider" */

/* Defaults of the Go original and its chart. */
#define MUTATE_DEFAULT_ETCD_CLASS    "gardener.cloud-fast"
#define MUTATE_DEFAULT_ETCD_CAPACITY "25Gi"
/* This binary's image (its entrypoint runs the binary; the sidecar runs `machine-controller`). */
#define MUTATE_DEFAULT_MACHINE_CONTROLLER_IMAGE PROG_NAME ":" EQXM_VERSION
#define MUTATE_DEFAULT_METABOT_IMAGE                                                               \
  "europe-docker.pkg.dev/gardener-project/releases/3rd/packethost/metabot:v1.0.0"

struct mutate_ctx {
  const json_t *cluster;                /* the Cluster object when MUTATE_NEED_CLUSTER, else NULL */
  const json_t *infrastructure;         /* the Infrastructure when MUTATE_NEED_INFRA, else NULL */
  const char *cloudprovider_checksum;   /* when MUTATE_NEED_CLOUDPROVIDER, else NULL */
  const char *etcd_class;               /* etcd-main storage class (config or default) */
  const char *etcd_capacity;            /* etcd-main storage capacity */
  const char *metabot_image;            /* image of the vpn-shoot init container */
  const char *machine_controller_image; /* image of the machine-controller-manager sidecar */
};

/* /controlplane: kube-apiserver, kube-controller-manager, vpn-seed-server, GRM ConfigMap, OSC. */
unsigned mutate_controlplane_needs(const struct admission_request *req);
enum eng_err mutate_controlplane(json_t *obj, const struct admission_request *req,
                                 const struct mutate_ctx *ctx, struct eng_error *err);

/* OperatingSystemConfig part of /controlplane (mutate_osc.c). */
enum eng_err mutate_osc(json_t *osc, const struct mutate_ctx *ctx, struct eng_error *err);

/* /seedprovider: etcd-main and etcd-events storage. */
unsigned mutate_seedprovider_needs(const struct admission_request *req);
enum eng_err mutate_seedprovider(json_t *obj, const struct admission_request *req,
                                 const struct mutate_ctx *ctx, struct eng_error *err);

/* /shoot: the vpn-shoot Deployment in the shoot's kube-system. */
unsigned mutate_shoot_needs(const struct admission_request *req);
enum eng_err mutate_shoot(json_t *obj, const struct admission_request *req,
                          const struct mutate_ctx *ctx, struct eng_error *err);

#endif
