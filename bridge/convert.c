/* SPDX-License-Identifier: MIT */
/*
 * krb5_db_entry / osa_policy_ent_rec <-> `kdb5_util dump` version 7 lines.
 * Pure code apart from krb5_parse_name/krb5_unparse_name; the grammar is in
 * convert.h.  Encoders write into a buffer reserved once for the worst case;
 * parsers walk a cursor and stop at the first bad field.
 */
#include "bridge/convert.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"

/* --- encoding ------------------------------------------------------------ */

static const char hexdig[] = "0123456789abcdef";

/* Worst-case decimal of a 32-bit value, with sign. */
#define DEC_MAX 11

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_u32(char *p, uint32_t v)
{
	char tmp[DEC_MAX];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_i32(char *p, int32_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u32(p, (uint32_t)0 - (uint32_t)v);
	}
	return put_u32(p, (uint32_t)v);
}

static char *put_hex_or_minus1(char *p, const uint8_t *d, size_t n)
{
	if (n == 0)
		return put_str(p, "-1", 2);
	for (size_t i = 0; i < n; i++) {
		*p++ = hexdig[d[i] >> 4];
		*p++ = hexdig[d[i] & 15];
	}
	return p;
}

/* Bound for one "TAB type TAB len TAB hex" tl element. */
static size_t tl_bound(const krb5_tl_data *tl)
{
	return 3 + 2 * DEC_MAX + 2 + 2 * (size_t)tl->tl_data_length;
}

int bridge_convert_princ_encode(const krb5_db_entry *e, const char *name,
				bool lockout, ks_buf_t *out)
{
	size_t name_len = strlen(name);
	if (name_len > BRIDGE_NAME_MAX) {
		ks_log_warn(KDB, "principal name too long (%zu bytes)",
			    name_len);
		return KS_ELIMIT;
	}
	int n_tl = 0;
	size_t bound = 6 + 5 * (DEC_MAX + 1) + name_len + 1 +
		       8 * (DEC_MAX + 1) + 1 + 2 + 2 * (size_t)e->e_length + 3;
	for (const krb5_tl_data *tl = e->tl_data; tl; tl = tl->tl_data_next) {
		if (n_tl == INT16_MAX)
			break;
		n_tl++;
		bound += tl_bound(tl);
		if (tl->tl_data_length && tl->tl_data_contents == NULL)
			goto bad;
	}
	if (n_tl != e->n_tl_data) {
		ks_log_warn(KDB,
			    "principal '%s': tagged data list inconsistency "
			    "(counted %d, stored %d)",
			    name, n_tl, (int)e->n_tl_data);
		return KS_EMALF;
	}
	if (e->n_key_data < 0 || (e->n_key_data > 0 && e->key_data == NULL))
		goto bad;
	if (e->e_length && e->e_data == NULL)
		goto bad;
	for (int i = 0; i < e->n_key_data; i++) {
		const krb5_key_data *kd = &e->key_data[i];
		if (kd->key_data_ver < 0 ||
		    kd->key_data_ver > KRB5_KDB_V1_KEY_DATA_ARRAY)
			goto bad;
		bound += 2 * (DEC_MAX + 1);
		for (int j = 0; j < kd->key_data_ver; j++) {
			if (kd->key_data_length[j] &&
			    kd->key_data_contents[j] == NULL)
				goto bad;
			bound += 2 * (DEC_MAX + 1) + 3 +
				 2 * (size_t)kd->key_data_length[j];
		}
	}

	int ret = ks_buf_reserve(out, bound);
	if (ret != KS_EOK)
		return ret;
	char *start = (char *)out->data + out->len, *p = start;
	p = put_str(p, "princ\t", 6);
	p = put_i32(p, e->len);
	*p++ = '\t';
	p = put_u32(p, (uint32_t)name_len);
	*p++ = '\t';
	p = put_i32(p, n_tl);
	*p++ = '\t';
	p = put_i32(p, e->n_key_data);
	*p++ = '\t';
	p = put_i32(p, e->e_length);
	*p++ = '\t';
	p = put_str(p, name, name_len);
	*p++ = '\t';
	p = put_i32(p, e->attributes);
	*p++ = '\t';
	p = put_i32(p, e->max_life);
	*p++ = '\t';
	p = put_i32(p, e->max_renewable_life);
	*p++ = '\t';
	p = put_u32(p, (uint32_t)e->expiration);
	*p++ = '\t';
	p = put_u32(p, (uint32_t)e->pw_expiration);
	*p++ = '\t';
	p = put_u32(p, lockout ? (uint32_t)e->last_success : 0);
	*p++ = '\t';
	p = put_u32(p, lockout ? (uint32_t)e->last_failed : 0);
	*p++ = '\t';
	p = put_i32(p, lockout ? (int32_t)e->fail_auth_count : 0);
	for (const krb5_tl_data *tl = e->tl_data; tl; tl = tl->tl_data_next) {
		*p++ = '\t';
		p = put_i32(p, tl->tl_data_type);
		*p++ = '\t';
		p = put_i32(p, tl->tl_data_length);
		*p++ = '\t';
		p = put_hex_or_minus1(p, tl->tl_data_contents,
				      tl->tl_data_length);
	}
	*p++ = '\t';
	for (int i = 0; i < e->n_key_data; i++) {
		const krb5_key_data *kd = &e->key_data[i];
		p = put_i32(p, kd->key_data_ver);
		*p++ = '\t';
		p = put_i32(p, kd->key_data_kvno);
		*p++ = '\t';
		for (int j = 0; j < kd->key_data_ver; j++) {
			p = put_i32(p, kd->key_data_type[j]);
			*p++ = '\t';
			p = put_i32(p, kd->key_data_length[j]);
			*p++ = '\t';
			p = put_hex_or_minus1(p, kd->key_data_contents[j],
					      kd->key_data_length[j]);
			*p++ = '\t';
		}
	}
	p = put_hex_or_minus1(p, e->e_data, e->e_length);
	p = put_str(p, ";\n", 2);
	out->len += (size_t)(p - start);
	return KS_EOK;

bad:
	ks_log_warn(KDB,
		    "principal '%s': inconsistent entry (null data or bad "
		    "key version)",
		    name);
	return KS_EMALF;
}

static bool policy_token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	return strpbrk(s, "\t\n") == NULL;
}

int bridge_convert_policy_encode(const osa_policy_ent_rec *p, ks_buf_t *out)
{
	if (p->name == NULL || !policy_token_ok(p->name, BRIDGE_POLNAME_MAX)) {
		ks_log_warn(KDB, "policy with unusable name");
		return KS_EMALF;
	}
	if (p->allowed_keysalts &&
	    !policy_token_ok(p->allowed_keysalts, BRIDGE_KEYSALTS_MAX)) {
		ks_log_warn(KDB, "policy '%s': unusable allowed_keysalts",
			    p->name);
		return KS_EMALF;
	}
	int n_tl = 0;
	bool null_tl = false;
	size_t name_len = strlen(p->name);
	const char *ks = p->allowed_keysalts ? p->allowed_keysalts : "-";
	size_t ks_len = strlen(ks);
	size_t bound = 7 + name_len + 1 + 12 * (DEC_MAX + 1) + ks_len + 1 +
		       DEC_MAX + 1;
	for (const krb5_tl_data *tl = p->tl_data; tl; tl = tl->tl_data_next) {
		if (n_tl == INT16_MAX)
			break;
		n_tl++;
		bound += tl_bound(tl);
		if (tl->tl_data_length && tl->tl_data_contents == NULL)
			null_tl = true;
	}
	if (n_tl != p->n_tl_data || null_tl) {
		ks_log_warn(KDB, "policy '%s': tagged data list inconsistency",
			    p->name);
		return KS_EMALF;
	}
	int ret = ks_buf_reserve(out, bound);
	if (ret != KS_EOK)
		return ret;
	char *start = (char *)out->data + out->len, *q = start;
	const uint32_t nums[] = { p->pw_min_life,
				  p->pw_max_life,
				  p->pw_min_length,
				  p->pw_min_classes,
				  p->pw_history_num,
				  0,
				  p->pw_max_fail,
				  p->pw_failcnt_interval,
				  p->pw_lockout_duration,
				  p->attributes,
				  p->max_life,
				  p->max_renewable_life };
	q = put_str(q, "policy\t", 7);
	q = put_str(q, p->name, name_len);
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		*q++ = '\t';
		q = put_i32(q, (int32_t)nums[i]); /* MIT writes these with %d */
	}
	*q++ = '\t';
	q = put_str(q, ks, ks_len);
	*q++ = '\t';
	q = put_i32(q, n_tl);
	for (const krb5_tl_data *tl = p->tl_data; tl; tl = tl->tl_data_next) {
		*q++ = '\t';
		q = put_i32(q, tl->tl_data_type);
		*q++ = '\t';
		q = put_i32(q, tl->tl_data_length);
		*q++ = '\t';
		q = put_hex_or_minus1(q, tl->tl_data_contents,
				      tl->tl_data_length);
	}
	*q++ = '\n';
	out->len += (size_t)(q - start);
	return KS_EOK;
}

/* --- parsing ------------------------------------------------------------- */

/* A cursor over one line.  On the first failure ->field names what was being
 * read and every later step fails too. */
typedef struct cur {
	const char *p, *end, *base;
	const char *field; /* set on failure */
	const char *kind;  /* "principal" / "policy", for the log */
} cur_t;

static bool fail(cur_t *c, const char *field)
{
	if (c->field == NULL)
		c->field = field;
	return false;
}

static bool expect(cur_t *c, const char *lit, const char *field)
{
	size_t n = strlen(lit);
	if (c->field || (size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return fail(c, field);
	c->p += n;
	return true;
}

/* Canonical unsigned decimal (no sign, no leading zeros) <= max. */
static bool read_u(cur_t *c, uint64_t max, uint64_t *v, const char *field)
{
	if (c->field)
		return false;
	const char *s = c->p;
	uint64_t acc = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		acc = acc * 10 + (uint64_t)(*c->p - '0');
		c->p++;
		if (acc > max)
			return fail(c, field);
	}
	size_t n = (size_t)(c->p - s);
	if (n == 0 || (n > 1 && *s == '0'))
		return fail(c, field);
	*v = acc;
	return true;
}

/* Canonical signed decimal in [min, max]; "-0" is not canonical. */
static bool read_i(cur_t *c, int64_t min, int64_t max, int64_t *v,
		   const char *field)
{
	if (c->field)
		return false;
	bool neg = c->p < c->end && *c->p == '-';
	if (neg)
		c->p++;
	uint64_t u;
	if (!read_u(c, neg ? (uint64_t)-min : (uint64_t)max, &u, field))
		return false;
	if (neg && u == 0)
		return fail(c, field);
	*v = neg ? -(int64_t)u : (int64_t)u;
	return true;
}

/* Lowercase hex digit values; 0x100 marks every other byte.  A table and
 * no branch per digit: key data is random, and it is most of a record
 * (a full load parses a million of them). */
static const uint16_t
	hex_tab[256] = {
#define X16                                                                    \
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,  \
		0x100, 0x100, 0x100, 0x100, 0x100, 0x100
		X16,   X16,   X16, /* 0x00 .. 0x2f */
		0,     1,     2,     3,	    4,	   5,
		6,     7,     8,     9,	    0x100, 0x100,
		0x100, 0x100, 0x100, 0x100, X16, /* 0x40 .. 0x4f */
		X16,				 /* 0x50 .. 0x5f */
		0x100, 10,    11,    12,    13,	   14,
		15,    0x100, 0x100, 0x100, 0x100, 0x100,
		0x100, 0x100, 0x100, 0x100, /* 0x60 .. 0x6f */
		X16,   X16,   X16,   X16,   X16,   X16,
		X16,   X16,   X16, /* 0x70 .. 0xff */
#undef X16
	};

/* "-1" when n == 0, else exactly 2n lowercase hex digits into a new buffer. */
static bool read_hex(cur_t *c, size_t n, uint8_t **out, const char *field)
{
	*out = NULL;
	if (n == 0)
		return expect(c, "-1", field);
	if (c->field || (size_t)(c->end - c->p) / 2 < n)
		return fail(c, field);
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return fail(c, "(out of memory)");
	const unsigned char *h = (const unsigned char *)c->p;
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned hi = hex_tab[h[2 * i]], lo = hex_tab[h[2 * i + 1]];
		bad |= hi | lo;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	if (bad & 0x100) {
		free(buf);
		return fail(c, field);
	}
	c->p += 2 * n;
	*out = buf;
	return true;
}

/* Bytes up to the next TAB (or LF for \p to_eol), 1..max long, no NUL. */
static bool read_token(cur_t *c, size_t max, const char **s, size_t *n,
		       const char *field)
{
	if (c->field)
		return false;
	const char *st = c->p;
	while (c->p < c->end && *c->p != '\t' && *c->p != '\n' && *c->p) {
		c->p++;
		if ((size_t)(c->p - st) > max)
			return fail(c, field);
	}
	if (c->p == st)
		return fail(c, field);
	*s = st;
	*n = (size_t)(c->p - st);
	return true;
}

static void free_tl_list(krb5_tl_data *tl)
{
	while (tl) {
		krb5_tl_data *next = tl->tl_data_next;
		free(tl->tl_data_contents);
		free(tl);
		tl = next;
	}
}

/* n elements of "TAB type TAB len TAB hex" into a new list. */
static bool read_tl_list(cur_t *c, int n, krb5_tl_data **out)
{
	krb5_tl_data **tail = out;
	for (int i = 0; i < n; i++) {
		int64_t type;
		uint64_t len;
		if (!expect(c, "\t", "tl_data separator") ||
		    !read_i(c, INT16_MIN, INT16_MAX, &type, "tl_data type") ||
		    !expect(c, "\t", "tl_data separator") ||
		    !read_u(c, UINT16_MAX, &len, "tl_data length") ||
		    !expect(c, "\t", "tl_data separator"))
			return false;
		krb5_tl_data *tl = calloc(1, sizeof(*tl));
		if (tl == NULL)
			return fail(c, "(out of memory)");
		*tail = tl;
		tail = &tl->tl_data_next;
		tl->tl_data_type = (krb5_int16)type;
		tl->tl_data_length = (krb5_ui_2)len;
		if (!read_hex(c, (size_t)len, &tl->tl_data_contents,
			      "tl_data contents"))
			return false;
	}
	return true;
}

static int finish(cur_t *c, const char *name, size_t name_len)
{
	if (c->field == NULL)
		return KS_EOK;
	if (strcmp(c->field, "(out of memory)") == 0)
		return KS_ENOMEM;
	ks_log_warn(KDB,
		    "malformed %s record '%.*s': bad field '%s' at offset "
		    "%zu",
		    c->kind, (int)(name_len > 200 ? 200 : name_len),
		    name ? name : "?", c->field, (size_t)(c->p - c->base));
	return KS_EMALF;
}

void bridge_convert_princ_free(krb5_context ctx, krb5_db_entry *e)
{
	if (e == NULL)
		return;
	free_tl_list(e->tl_data);
	krb5_free_principal(ctx, e->princ);
	for (int i = 0; e->key_data && i < e->n_key_data; i++)
		for (int j = 0; j < KRB5_KDB_V1_KEY_DATA_ARRAY; j++)
			free(e->key_data[i].key_data_contents[j]);
	free(e->key_data);
	free(e->e_data);
	free(e);
}

/* Parse and check that the name is in canonical unparsed form. */
static bool read_princ_name(cur_t *c, krb5_context ctx, size_t n,
			    krb5_principal *out)
{
	if (c->field || (size_t)(c->end - c->p) < n)
		return fail(c, "name");
	if (memchr(c->p, '\0', n) || memchr(c->p, '\n', n) ||
	    memchr(c->p, '\t', n))
		return fail(c, "name");
	char *buf = malloc(n + 1);
	if (buf == NULL)
		return fail(c, "(out of memory)");
	memcpy(buf, c->p, n);
	buf[n] = '\0';
	char *again = NULL;
	bool ok = false;
	if (krb5_parse_name_flags(ctx, buf, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM,
				  out) == 0) {
		if (krb5_unparse_name(ctx, *out, &again) == 0 &&
		    strcmp(again, buf) == 0)
			ok = true;
		krb5_free_unparsed_name(ctx, again);
		if (!ok) {
			krb5_free_principal(ctx, *out);
			*out = NULL;
		}
	}
	free(buf);
	if (!ok)
		return fail(c, "name");
	c->p += n;
	return true;
}

int bridge_convert_princ_parse(krb5_context ctx, const char *line, size_t len,
			       krb5_db_entry **out)
{
	cur_t c = {
		.p = line, .end = line + len, .base = line, .kind = "principal"
	};
	uint64_t elen = 0, namelen = 0, u;
	int64_t ntl = 0, nkey = 0, v;
	const char *name = NULL;
	krb5_db_entry *e = NULL;

	if (len > BRIDGE_LINE_MAX) {
		fail(&c, "line length");
		goto done;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return KS_ENOMEM;
	if (!expect(&c, "princ\t", "record type") ||
	    !read_u(&c, UINT16_MAX, &u, "len") || !expect(&c, "\t", "len"))
		goto done;
	e->len = (krb5_ui_2)u;
	if (!read_u(&c, BRIDGE_NAME_MAX, &namelen, "name length") ||
	    !expect(&c, "\t", "name length") ||
	    !read_i(&c, 0, INT16_MAX, &ntl, "n_tl_data") ||
	    !expect(&c, "\t", "n_tl_data") ||
	    !read_i(&c, 0, INT16_MAX, &nkey, "n_key_data") ||
	    !expect(&c, "\t", "n_key_data") ||
	    !read_u(&c, UINT16_MAX, &elen, "e_length") ||
	    !expect(&c, "\t", "e_length"))
		goto done;
	name = c.p;
	if (!read_princ_name(&c, ctx, (size_t)namelen, &e->princ) ||
	    !expect(&c, "\t", "name"))
		goto done;
	e->n_tl_data = (krb5_int16)ntl;
	e->e_length = (krb5_ui_2)elen;

	if (!read_i(&c, INT32_MIN, INT32_MAX, &v, "attributes"))
		goto done;
	e->attributes = (krb5_flags)v;
	if (!expect(&c, "\t", "attributes") ||
	    !read_i(&c, INT32_MIN, INT32_MAX, &v, "max_life"))
		goto done;
	e->max_life = (krb5_deltat)v;
	if (!expect(&c, "\t", "max_life") ||
	    !read_i(&c, INT32_MIN, INT32_MAX, &v, "max_renewable_life"))
		goto done;
	e->max_renewable_life = (krb5_deltat)v;
	if (!expect(&c, "\t", "max_renewable_life") ||
	    !read_u(&c, UINT32_MAX, &u, "expiration"))
		goto done;
	e->expiration = (krb5_timestamp)(uint32_t)u;
	if (!expect(&c, "\t", "expiration") ||
	    !read_u(&c, UINT32_MAX, &u, "pw_expiration"))
		goto done;
	e->pw_expiration = (krb5_timestamp)(uint32_t)u;
	if (!expect(&c, "\t", "pw_expiration") ||
	    !read_u(&c, UINT32_MAX, &u, "last_success"))
		goto done;
	e->last_success = (krb5_timestamp)(uint32_t)u;
	if (!expect(&c, "\t", "last_success") ||
	    !read_u(&c, UINT32_MAX, &u, "last_failed"))
		goto done;
	e->last_failed = (krb5_timestamp)(uint32_t)u;
	if (!expect(&c, "\t", "last_failed") ||
	    !read_i(&c, INT32_MIN, INT32_MAX, &v, "fail_auth_count"))
		goto done;
	e->fail_auth_count = (krb5_kvno)(int32_t)v;

	if (!read_tl_list(&c, (int)ntl, &e->tl_data) ||
	    !expect(&c, "\t", "tl_data end"))
		goto done;

	if (nkey > 0) {
		/* Each key needs at least "0\t0\t": refuse counts the rest of
		 * the line cannot hold before allocating for them. */
		if ((uint64_t)nkey > (uint64_t)(c.end - c.p) / 4) {
			fail(&c, "n_key_data");
			goto done;
		}
		e->key_data = calloc((size_t)nkey, sizeof(*e->key_data));
		if (e->key_data == NULL) {
			fail(&c, "(out of memory)");
			goto done;
		}
		e->n_key_data = (krb5_int16)nkey;
	}
	for (int i = 0; i < nkey; i++) {
		krb5_key_data *kd = &e->key_data[i];
		uint64_t ver, kvno;
		if (!read_u(&c, KRB5_KDB_V1_KEY_DATA_ARRAY, &ver,
			    "key_data version") ||
		    !expect(&c, "\t", "key_data version") ||
		    !read_u(&c, UINT16_MAX, &kvno, "key_data kvno") ||
		    !expect(&c, "\t", "key_data kvno"))
			goto done;
		kd->key_data_ver = (krb5_int16)ver;
		kd->key_data_kvno = (krb5_ui_2)kvno;
		for (uint64_t j = 0; j < ver; j++) {
			int64_t type;
			uint64_t klen;
			if (!read_i(&c, INT16_MIN, INT16_MAX, &type,
				    "key_data type") ||
			    !expect(&c, "\t", "key_data type") ||
			    !read_u(&c, UINT16_MAX, &klen, "key_data length") ||
			    !expect(&c, "\t", "key_data length"))
				goto done;
			kd->key_data_type[j] = (krb5_int16)type;
			kd->key_data_length[j] = (krb5_ui_2)klen;
			if (!read_hex(&c, (size_t)klen,
				      &kd->key_data_contents[j],
				      "key_data contents") ||
			    !expect(&c, "\t", "key_data contents"))
				goto done;
		}
	}
	if (!read_hex(&c, (size_t)elen, &e->e_data, "e_data") ||
	    !expect(&c, ";\n", "record end"))
		goto done;
	if (c.p != c.end)
		fail(&c, "trailing data");

done:;
	/* The name may run past a truncated line: log only what is there. */
	size_t shown = 0;
	if (name)
		shown = (size_t)namelen < (size_t)(c.end - name)
				? (size_t)namelen
				: (size_t)(c.end - name);
	int ret = finish(&c, name, shown);
	if (ret != KS_EOK) {
		bridge_convert_princ_free(ctx, e);
		return ret;
	}
	/* e->mask stays 0: DB2 ignores it (only LDAP reads it). */
	*out = e;
	return KS_EOK;
}

void bridge_convert_policy_free(osa_policy_ent_rec *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->allowed_keysalts);
	free_tl_list(p->tl_data);
	free(p);
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int bridge_convert_policy_parse(const char *line, size_t len,
				osa_policy_ent_rec **out)
{
	cur_t c = {
		.p = line, .end = line + len, .base = line, .kind = "policy"
	};
	const char *name = NULL, *ks;
	size_t name_len = 0, ks_len;
	int64_t v, ntl;
	osa_policy_ent_rec *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return KS_ENOMEM;
	if (len > BRIDGE_LINE_MAX) {
		fail(&c, "line length");
		goto done;
	}
	if (!expect(&c, "policy\t", "record type") ||
	    !read_token(&c, BRIDGE_POLNAME_MAX, &name, &name_len, "name"))
		goto done;
	p->name = dup_n(name, name_len);
	if (p->name == NULL) {
		fail(&c, "(out of memory)");
		goto done;
	}
	static const char *const fields[] = { "pw_min_life",
					      "pw_max_life",
					      "pw_min_length",
					      "pw_min_classes",
					      "pw_history_num",
					      "policy_refcnt",
					      "pw_max_fail",
					      "pw_failcnt_interval",
					      "pw_lockout_duration",
					      "attributes",
					      "max_life",
					      "max_renewable_life" };
	krb5_ui_4 *dst[] = { &p->pw_min_life,
			     &p->pw_max_life,
			     &p->pw_min_length,
			     &p->pw_min_classes,
			     &p->pw_history_num,
			     &p->policy_refcnt,
			     &p->pw_max_fail,
			     &p->pw_failcnt_interval,
			     &p->pw_lockout_duration,
			     &p->attributes,
			     &p->max_life,
			     &p->max_renewable_life };
	for (size_t i = 0; i < sizeof(dst) / sizeof(dst[0]); i++) {
		if (!expect(&c, "\t", fields[i]) ||
		    !read_i(&c, INT32_MIN, INT32_MAX, &v, fields[i]))
			goto done;
		*dst[i] = (krb5_ui_4)(int32_t)v;
	}
	if (p->policy_refcnt != 0) {
		fail(&c, "policy_refcnt");
		goto done;
	}
	if (!expect(&c, "\t", "allowed_keysalts") ||
	    !read_token(&c, BRIDGE_KEYSALTS_MAX, &ks, &ks_len,
			"allowed_keysalts"))
		goto done;
	if (!(ks_len == 1 && ks[0] == '-')) {
		p->allowed_keysalts = dup_n(ks, ks_len);
		if (p->allowed_keysalts == NULL) {
			fail(&c, "(out of memory)");
			goto done;
		}
	}
	if (!expect(&c, "\t", "n_tl_data") ||
	    !read_i(&c, 0, INT16_MAX, &ntl, "n_tl_data"))
		goto done;
	if ((uint64_t)ntl > (uint64_t)(c.end - c.p) / 6) {
		fail(&c, "n_tl_data");
		goto done;
	}
	p->n_tl_data = (krb5_int16)ntl;
	if (!read_tl_list(&c, (int)ntl, &p->tl_data) ||
	    !expect(&c, "\n", "record end"))
		goto done;
	if (c.p != c.end)
		fail(&c, "trailing data");
done:;
	int ret = finish(&c, name, name_len);
	if (ret != KS_EOK) {
		bridge_convert_policy_free(p);
		return ret;
	}
	*out = p;
	return KS_EOK;
}

int bridge_convert_line_name(const char *line, size_t len, const char **name,
			     size_t *name_len, bool *is_policy)
{
	cur_t c = {
		.p = line, .end = line + len, .base = line, .kind = "record"
	};
	uint64_t u, nl;
	if (len >= 7 && memcmp(line, "policy\t", 7) == 0) {
		c.p += 7;
		if (!read_token(&c, BRIDGE_POLNAME_MAX, name, name_len,
				"name") ||
		    !expect(&c, "\t", "name"))
			return finish(&c, NULL, 0);
		*is_policy = true;
		return KS_EOK;
	}
	if (!expect(&c, "princ\t", "record type") ||
	    !read_u(&c, UINT16_MAX, &u, "len") || !expect(&c, "\t", "len") ||
	    !read_u(&c, BRIDGE_NAME_MAX, &nl, "name length") ||
	    !expect(&c, "\t", "name length") ||
	    !read_u(&c, INT16_MAX, &u, "n_tl_data") ||
	    !expect(&c, "\t", "n_tl_data") ||
	    !read_u(&c, INT16_MAX, &u, "n_key_data") ||
	    !expect(&c, "\t", "n_key_data") ||
	    !read_u(&c, UINT16_MAX, &u, "e_length") ||
	    !expect(&c, "\t", "e_length"))
		return finish(&c, NULL, 0);
	if ((uint64_t)(c.end - c.p) <= nl || c.p[nl] != '\t' || nl == 0) {
		fail(&c, "name");
		return finish(&c, NULL, 0);
	}
	*name = c.p;
	*name_len = (size_t)nl;
	*is_policy = false;
	return KS_EOK;
}
