/*
 * sizeof the memory parts of an llmc client for the target this file is
 * compiled for, read back by scripts/size.sh from the symbol sizes
 * (nm -S): each llmc_sizeof_<part> is a char array of exactly that size.
 * Compiled with the MCU defaults of llmc_config_defaults.h.
 */
#include "llmc/llmc_client.h"

#define MEMBER(t, m) (sizeof(((t *)0)->m))
#define SIZE(name, n) char llmc_sizeof_##name[(n) > 0 ? (n) : 1];

SIZE(client, sizeof(llmc_client_t))
SIZE(slots, MEMBER(llmc_client_t, slots))
SIZE(slot, sizeof(llmc_slot_t))
SIZE(slot_buf, MEMBER(llmc_slot_t, buf))
SIZE(slot_result, MEMBER(llmc_slot_t, result))
SIZE(slot_http, MEMBER(llmc_slot_t, http))
SIZE(slot_writer, MEMBER(llmc_slot_t, w))
SIZE(slot_shape, MEMBER(llmc_slot_t, shape))
SIZE(conns, MEMBER(llmc_client_t, conns))
SIZE(conn, sizeof(llmc_conn_t))
SIZE(prov, MEMBER(llmc_client_t, prov))
SIZE(provider_state, sizeof(llmc_provider_state_t))
#if LLMC_IAM_PROVIDERS > 0
SIZE(iam, MEMBER(llmc_client_t, iam))
#endif
SIZE(queue, MEMBER(llmc_client_t, queue))
SIZE(rx, MEMBER(llmc_client_t, io))
#if LLMC_TLS
SIZE(tls_conf, MEMBER(llmc_client_t, conf))
SIZE(tls_ca, MEMBER(llmc_client_t, ca))
SIZE(tls_drbg, MEMBER(llmc_client_t, drbg))
SIZE(tls_ssl, MEMBER(llmc_conn_t, ssl))
SIZE(tls_session, MEMBER(llmc_provider_state_t, session))
#endif

/* the knobs in force, same trick: llmc_knob_<NAME> has the knob's size */
#define KNOB(name) char llmc_knob_##name[(LLMC_##name) > 0 ? (LLMC_##name) : 1];
KNOB(SLOTS)
KNOB(CONNS)
KNOB(QUEUE_LEN)
KNOB(MAX_PROVIDERS)
KNOB(IAM_PROVIDERS)
KNOB(EVENT_BUF_SIZE)
KNOB(RECV_BUF_SIZE)
KNOB(MAX_ATTEMPTS)
KNOB(MSG_LEN)
KNOB(TOKEN_MAX)
KNOB(HOST_MAX)
