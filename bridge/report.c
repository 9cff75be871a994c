/* SPDX-License-Identifier: MIT */
/*
 * Capture report encoding and decoding (layout in bridge/report.h).  Built
 * into ks_bridge for the node and compiled again into the KDB module, so it
 * uses nothing but libc and the header-only wire cursor.
 */
#include "bridge/report.h"

#include <string.h>

#include "common/errors.h"
#include "common/wire.h"

static const char *const kind_names[KS_REPORT_KIND_COUNT] = {
	[KS_REPORT_PRINC_PUT] = "princ_put",
	[KS_REPORT_PRINC_DEL] = "princ_del",
	[KS_REPORT_POLICY_PUT] = "policy_put",
	[KS_REPORT_POLICY_DEL] = "policy_del",
	[KS_REPORT_LOCKOUT] = "lockout",
	[KS_REPORT_MKEY] = "mkey",
	[KS_REPORT_LOAD] = "load",
	[KS_REPORT_LOST] = "lost",
	[KS_REPORT_ANSWER] = "answer",
};

const char *ks_report_kind_name(unsigned kind)
{
	if (kind == 0 || kind >= KS_REPORT_KIND_COUNT)
		return "?";
	return kind_names[kind];
}

static bool kind_has_name(unsigned kind)
{
	return kind != KS_REPORT_LOAD && kind != KS_REPORT_LOST &&
	       kind != KS_REPORT_ANSWER;
}

int ks_report_encode(const ks_report_t *r, uint8_t *buf, size_t cap,
		     size_t *out_len)
{
	if (r->kind == 0 || r->kind >= KS_REPORT_KIND_COUNT ||
	    (r->flags & ~KS_REPORT_F_KNOWN) != 0 || r->id == 0)
		return KS_EINVAL;
	if (kind_has_name(r->kind) != (r->name_len > 0))
		return KS_EINVAL;
	if (r->name_len > KS_REPORT_NAME_MAX)
		return KS_ELIMIT;
	if (r->name_len && memchr(r->name, '\0', r->name_len) != NULL)
		return KS_EINVAL;
	ks_wire_t w = ks_wire_writer(buf, cap);
	ks_wire_write_u8(&w, 'K');
	ks_wire_write_u8(&w, 'R');
	ks_wire_write_u8(&w, KS_REPORT_VERSION);
	ks_wire_write_u8(&w, r->kind);
	ks_wire_write_u8(&w, r->flags);
	ks_wire_write_u8(&w, 0);
	ks_wire_write_u16(&w, (uint16_t)r->name_len);
	ks_wire_write_u64(&w, r->id);
	ks_wire_write_u32(&w, r->dropped);
	ks_wire_write_u32(&w, 0);
	ks_wire_write_bytes(&w, r->name, r->name_len);
	if (w.err != KS_EOK)
		return KS_ELIMIT;
	*out_len = ks_wire_offset(&w);
	return KS_EOK;
}

int ks_report_decode(const uint8_t *msg, size_t len, ks_report_t *out)
{
	if (len < KS_REPORT_HDR_LEN)
		return KS_ETRUNC;
	ks_wire_t w = ks_wire_reader(msg, len);
	uint8_t m0 = ks_wire_read_u8(&w), m1 = ks_wire_read_u8(&w);
	uint8_t ver = ks_wire_read_u8(&w), kind = ks_wire_read_u8(&w);
	uint8_t flags = ks_wire_read_u8(&w), res8 = ks_wire_read_u8(&w);
	uint16_t name_len = ks_wire_read_u16(&w);
	uint64_t id = ks_wire_read_u64(&w);
	uint32_t dropped = ks_wire_read_u32(&w);
	uint32_t res32 = ks_wire_read_u32(&w);

	if (w.err != KS_EOK || m0 != 'K' || m1 != 'R')
		return KS_EMALF;
	if (ver != KS_REPORT_VERSION)
		return KS_EVERSION;
	if (kind == 0 || kind >= KS_REPORT_KIND_COUNT)
		return KS_ETYPE;
	if (res8 != 0 || res32 != 0 || (flags & ~KS_REPORT_F_KNOWN) != 0 ||
	    id == 0)
		return KS_EMALF;
	if (name_len > KS_REPORT_NAME_MAX)
		return KS_ELIMIT;
	if (ks_wire_left(&w) != name_len)
		return KS_EMALF;
	if (kind_has_name(kind) != (name_len > 0))
		return KS_EMALF;
	const uint8_t *name = ks_wire_read_view(&w, name_len);
	if (w.err != KS_EOK ||
	    (name_len && memchr(name, '\0', name_len) != NULL))
		return KS_EMALF;
	*out = (ks_report_t){ .kind = kind,
			      .flags = flags,
			      .id = id,
			      .dropped = dropped,
			      .name = (const char *)name,
			      .name_len = name_len };
	return KS_EOK;
}
