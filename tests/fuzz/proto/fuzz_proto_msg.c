/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the message decoder over one arbitrary frame.  A frame
 * that decodes must re-encode to the same bytes (HELLO may carry ignored
 * trailing fields, so only its prefix is compared), and the re-encoding
 * must decode again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "proto/frame.h"
#include "proto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	proto_msg_t m, again;
	ks_buf_t out = KS_BUF_INIT;

	if (proto_msg_decode((ks_view_t){ data, size }, &m) != 0)
		return 0;
	(void)proto_msg_type_name(m.type);
	if (proto_msg_encode(&m, &out) != 0)
		abort();
	size_t flen = out.len - PROTO_FRAME_PREFIX;
	const uint8_t *fr = out.data + PROTO_FRAME_PREFIX;
	if (m.type == PROTO_MSG_HELLO ? flen > size : flen != size)
		abort();
	if (memcmp(fr, data, flen) != 0)
		abort();
	if (proto_msg_decode((ks_view_t){ fr, flen }, &again) != 0 ||
	    again.type != m.type)
		abort();
	ks_buf_free(&out);
	return 0;
}
