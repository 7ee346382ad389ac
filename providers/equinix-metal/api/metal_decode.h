/*
 * metal_decode.h - JSON objects of the Equinix Metal API into the structs of
 * metal_client.h. Pure. Bad input never crashes: a missing id, a field of the
 * wrong type where the client relies on it (state, tags, ip_addresses) or an
 * element that is not an object is an ENG_PROTOCOL error naming the field;
 * fields only shown to operators (metro, plan, OS, ...) fall back to "".
 */
#ifndef EQXM_METAL_DECODE_H
#define EQXM_METAL_DECODE_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "providers/equinix-metal/api/metal_client.h"

#include <jansson.h>

/* Decode v into *out (which is overwritten). On failure *out is empty (clear is a no-op) and
 * err says why ("device 9c1e...: field 'tags' is not a list of strings"). */
enum eng_err metal_device_decode(const json_t *v, struct metal_device *out, struct eng_error *err);
void metal_device_clear(struct metal_device *d);
/* Decode an array of devices, sort by id and drop duplicate ids. */
enum eng_err metal_device_list_decode(const json_t *arr, struct metal_device_list *out,
                                      struct eng_error *err);
void metal_device_list_clear(struct metal_device_list *l);

enum eng_err metal_sshkey_decode(const json_t *v, struct metal_sshkey *out, struct eng_error *err);
void metal_sshkey_clear(struct metal_sshkey *k);
void metal_sshkey_list_free_items(struct metal_sshkey_list *l);
enum eng_err metal_sshkey_list_decode(const json_t *arr, struct metal_sshkey_list *out,
                                      struct eng_error *err);

enum eng_err metal_ipres_decode(const json_t *v, struct metal_ip_reservation *out,
                                struct eng_error *err);
void metal_ipres_clear(struct metal_ip_reservation *r);
enum eng_err metal_ip_list_decode(const json_t *arr, struct metal_ip_list *out,
                                  struct eng_error *err);

/* Public keys are equal when their type and base64 body match (comments are ignored). */
bool metal_sshkey_same(const char *a, const char *b);

#endif
