/* SPDX-License-Identifier: MIT */
/*
 * Module-private helpers shared by batch.c and snap.c: the body op encoding
 * and sealing an already serialised body (compress, header, sign).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/batch.h"

#define PROTO__OP_HDR_LEN 7 /* type u8, key length u16, value length u32 */

/**
 * \brief Check one op for kind \p kind and append its body encoding.
 * \return KS_EOK, KS_EINVAL (bad type, key or DEL value / DEL in a chunk),
 *         KS_ENOMEM.  \p raw unchanged on error.
 */
int proto__op_put(ks_buf_t *raw, uint8_t kind, const proto_op_t *op);

/**
 * \brief Compress \p raw_len bytes of serialised body and append the signed
 *        blob for header \p h (op_count, kind, history, seqs, time as
 *        given; raw_size, key_id and body_len filled in).
 * \return KS_EOK, KS_EINVAL (header inconsistent), KS_ELIMIT,
 *         KS_ECOMPRESS, KS_EKEY, KS_ECRYPTO, KS_ENOMEM; \p out unchanged on
 *         error.
 */
int proto__batch_seal_raw(const proto_batch_hdr_t *h, const uint8_t *raw,
			  size_t raw_len, const proto_key_t *key, int level,
			  ks_buf_t *out);
