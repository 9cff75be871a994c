/* SPDX-License-Identifier: MIT */
/*
 * libkrb5 glue for the kprop dialogue (see krb.h): AP exchange, KRB-SAFE,
 * KRB-PRIV and KRB-ERROR, with the auth-context settings of stock
 * kprop/kpropd 1.20.  Every krb5 error is logged here and translated.
 */
#include "node/kprop/krb.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <krb5.h>

#include "common/errors.h"
#include "common/log.h"

#define ACL_FILE_MAX	     (1u << 20)
#define KRB_ERR_GENERIC_CODE 60

struct kprop_krb {
	krb5_context ctx;
	krb5_keytab kt;
	krb5_principal me;     /* client (kprop) or acceptor (kpropd) */
	krb5_principal target; /* client side: host/<replica> */
	krb5_principal client; /* server side: the authenticated client */
	krb5_creds creds;      /* client side: the service ticket */
	bool have_creds;
	krb5_auth_context ac;
	krb5_enctype ticket_enctype;
	krb5_address local;
	uint8_t local_bytes[16];
	bool have_local;
	char *acl_file;
	char me_name[512], target_name[512], client_name[512];
};

/* Log a krb5 failure with the library's message; return \p code. */
static int krb_fail(kprop_krb_t *k, krb5_error_code kret, int code,
		    const char *what, char *err, size_t errlen)
{
	const char *msg = krb5_get_error_message(k->ctx, kret);
	ks_log_err(KPROP, "kprop: %s: %s", what, msg);
	if (err != NULL)
		snprintf(err, errlen, "%s: %s", what, msg);
	krb5_free_error_message(k->ctx, msg);
	return code;
}

static void unparse_into(kprop_krb_t *k, krb5_principal p, char *buf,
			 size_t len)
{
	char *name = NULL;
	if (krb5_unparse_name(k->ctx, p, &name) == 0) {
		snprintf(buf, len, "%s", name);
		krb5_free_unparsed_name(k->ctx, name);
	} else {
		snprintf(buf, len, "?");
	}
}

/* host/<host>@realm as kprop's sn2princ_realm builds it (host NULL: this
 * host); or \p name parsed when given. */
static krb5_error_code make_princ(kprop_krb_t *k, const char *name,
				  const char *host, const char *realm,
				  krb5_principal *out)
{
	krb5_error_code kret;
	if (name != NULL)
		return krb5_parse_name(k->ctx, name, out);
	kret = krb5_sname_to_principal(k->ctx, host, "host", KRB5_NT_SRV_HST,
				       out);
	if (kret == 0)
		kret = krb5_set_principal_realm(k->ctx, *out, realm);
	return kret;
}

static int common_new(const char *realm_opt, const char *keytab,
		      kprop_krb_t **out, char **realm, char *err, size_t errlen)
{
	kprop_krb_t *k = calloc(1, sizeof(*k));
	krb5_error_code kret;
	if (k == NULL)
		return KS_ENOMEM;
	kret = krb5_init_context(&k->ctx);
	if (kret != 0) {
		snprintf(err, errlen, "cannot create a krb5 context (%s)",
			 strerror(kret > 0 ? kret : EINVAL));
		free(k);
		return KS_EKRB5;
	}
	*out = k;
	if (realm_opt != NULL) {
		*realm = strdup(realm_opt);
		if (*realm == NULL)
			return KS_ENOMEM;
	} else {
		char *r = NULL;
		kret = krb5_get_default_realm(k->ctx, &r);
		if (kret != 0)
			return krb_fail(k, kret, KS_EKRB5,
					"cannot find the default realm", err,
					errlen);
		*realm = strdup(r);
		krb5_free_default_realm(k->ctx, r);
		if (*realm == NULL)
			return KS_ENOMEM;
	}
	kret = keytab != NULL ? krb5_kt_resolve(k->ctx, keytab, &k->kt)
			      : krb5_kt_default(k->ctx, &k->kt);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5, "cannot open the keytab",
				err, errlen);
	return KS_EOK;
}

int kprop_krb_client_new(const kprop_krb_client_opts_t *o, kprop_krb_t **out,
			 char *err, size_t errlen)
{
	kprop_krb_t *k = NULL;
	char *realm = NULL;
	krb5_error_code kret;
	int ret;

	err[0] = '\0';
	ret = common_new(o->realm, o->keytab, &k, &realm, err, errlen);
	if (ret != KS_EOK)
		goto fail;
	kret = make_princ(k, o->principal, NULL, realm, &k->me);
	if (kret != 0) {
		ret = krb_fail(k, kret, KS_EKRB5,
			       "while setting client principal name", err,
			       errlen);
		goto fail;
	}
	kret = make_princ(k, NULL, o->target, realm, &k->target);
	if (kret != 0) {
		ret = krb_fail(k, kret, KS_EKRB5,
			       "while setting server principal name", err,
			       errlen);
		goto fail;
	}
	unparse_into(k, k->me, k->me_name, sizeof(k->me_name));
	unparse_into(k, k->target, k->target_name, sizeof(k->target_name));
	/* An AS exchange straight to the service, as kprop does. */
	kret = krb5_get_init_creds_keytab(k->ctx, &k->creds, k->me, k->kt, 0,
					  k->target_name, NULL);
	if (kret != 0) {
		char what[1200];
		snprintf(what, sizeof(what),
			 "while getting initial credentials for %s (as %s)",
			 k->target_name, k->me_name);
		ret = krb_fail(k, kret, KS_EAUTH, what, err, errlen);
		goto fail;
	}
	k->have_creds = true;
	free(realm);
	*out = k;
	return KS_EOK;
fail:
	if (ret == KS_ENOMEM && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	free(realm);
	kprop_krb_free(k);
	return ret;
}

int kprop_krb_server_new(const kprop_krb_server_opts_t *o, kprop_krb_t **out,
			 char *err, size_t errlen)
{
	kprop_krb_t *k = NULL;
	char *realm = NULL;
	krb5_error_code kret;
	int ret;

	err[0] = '\0';
	ret = common_new(o->realm, o->keytab, &k, &realm, err, errlen);
	if (ret != KS_EOK)
		goto fail;
	kret = make_princ(k, o->principal, NULL, realm, &k->me);
	if (kret != 0) {
		ret = krb_fail(k, kret, KS_EKRB5,
			       "while setting server principal name", err,
			       errlen);
		goto fail;
	}
	unparse_into(k, k->me, k->me_name, sizeof(k->me_name));
	k->acl_file = strdup(o->acl_file != NULL ? o->acl_file : "");
	if (k->acl_file == NULL) {
		ret = KS_ENOMEM;
		goto fail;
	}
	free(realm);
	*out = k;
	return KS_EOK;
fail:
	if (ret == KS_ENOMEM && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	free(realm);
	kprop_krb_free(k);
	return ret;
}

int kprop_krb_set_socket(kprop_krb_t *k, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return ks_errno(errno);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		memcpy(k->local_bytes, &sin->sin_addr, 4);
		k->local.addrtype = ADDRTYPE_INET;
		k->local.length = 4;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
			(const struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(k->local_bytes, s6->sin6_addr.s6_addr + 12, 4);
			k->local.addrtype = ADDRTYPE_INET;
			k->local.length = 4;
		} else {
			memcpy(k->local_bytes, s6->sin6_addr.s6_addr, 16);
			k->local.addrtype = ADDRTYPE_INET6;
			k->local.length = 16;
		}
	} else {
		return KS_ENOTSUP;
	}
	k->local.magic = KV5M_ADDRESS;
	k->local.contents = k->local_bytes;
	k->have_local = true;
	return KS_EOK;
}

/* A fresh auth context with kprop's settings. */
static int new_auth_context(kprop_krb_t *k)
{
	krb5_error_code kret;
	if (k->ac != NULL) {
		krb5_auth_con_free(k->ctx, k->ac);
		k->ac = NULL;
	}
	kret = krb5_auth_con_init(k->ctx, &k->ac);
	if (kret == 0)
		kret = krb5_auth_con_setflags(k->ctx, k->ac,
					      KRB5_AUTH_CONTEXT_DO_SEQUENCE);
	if (kret == 0 && k->have_local)
		kret = krb5_auth_con_setaddrs(k->ctx, k->ac, &k->local, NULL);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5,
				"while setting up the auth context", NULL, 0);
	return KS_EOK;
}

static krb5_data as_data(ks_view_t v)
{
	krb5_data d = { 0 };
	d.magic = KV5M_DATA;
	d.length = (unsigned int)v.len;
	d.data = (char *)(uintptr_t)v.ptr;
	return d;
}

/* Move a krb5_data into \p out and free it. */
static int take_data(kprop_krb_t *k, krb5_data *d, ks_buf_t *out)
{
	int ret = ks_buf_append(out, d->data, d->length);
	krb5_free_data_contents(k->ctx, d);
	return ret;
}

static int op_mk_req(void *ctx, ks_buf_t *out)
{
	kprop_krb_t *k = ctx;
	krb5_data d = { 0 };
	krb5_error_code kret;
	int ret = new_auth_context(k);
	if (ret != KS_EOK)
		return ret;
	kret = krb5_mk_req_extended(k->ctx, &k->ac, AP_OPTS_MUTUAL_REQUIRED,
				    NULL, &k->creds, &d);
	if (kret != 0)
		return krb_fail(k, kret, KS_EAUTH, "while building the AP-REQ",
				NULL, 0);
	return take_data(k, &d, out);
}

static int op_rd_rep(void *ctx, ks_view_t msg)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(msg);
	krb5_ap_rep_enc_part *rep = NULL;
	krb5_error_code kret = krb5_rd_rep(k->ctx, k->ac, &in, &rep);
	if (kret != 0)
		return krb_fail(k, kret, KS_EAUTH, "while verifying the AP-REP",
				NULL, 0);
	krb5_free_ap_rep_enc_part(k->ctx, rep);
	return KS_EOK;
}

/* A KRB-ERROR as kpropd's send_error / recvauth build it. */
static int make_error(kprop_krb_t *k, krb5_error_code kret, const char *text,
		      ks_buf_t *out)
{
	krb5_error e;
	krb5_data d = { 0 };
	char buf[1024];
	memset(&e, 0, sizeof(e));
	krb5_us_timeofday(k->ctx, &e.stime, &e.susec);
	e.server = k->target != NULL ? k->target : k->me;
	e.client = k->target != NULL ? k->me : k->client;
	long code = kret != 0 ? (long)kret - ERROR_TABLE_BASE_krb5 : 1000;
	if (code < 0 || code > 127) {
		e.error = KRB_ERR_GENERIC_CODE;
		if (kret != 0 && text != NULL) {
			const char *m = krb5_get_error_message(k->ctx, kret);
			snprintf(buf, sizeof(buf), "%s %s", m, text);
			krb5_free_error_message(k->ctx, m);
		} else
			snprintf(buf, sizeof(buf), "%s",
				 text != NULL ? text : "error");
	} else {
		e.error = (krb5_ui_4)code;
		snprintf(buf, sizeof(buf), "%s",
			 text != NULL ? text : error_message(kret));
	}
	e.text.length = (unsigned int)strlen(buf) + 1;
	e.text.data = buf;
	krb5_error_code r = krb5_mk_error(k->ctx, &e, &d);
	if (r != 0)
		return krb_fail(k, r, KS_EKRB5, "while building a KRB-ERROR",
				NULL, 0);
	return take_data(k, &d, out);
}

static int op_rd_req(void *ctx, ks_view_t msg, ks_buf_t *err_out)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(msg);
	krb5_ticket *t = NULL;
	krb5_rcache rc = NULL;
	krb5_error_code kret;
	int ret = new_auth_context(k);
	if (ret != KS_EOK)
		return ret;
	/* The authenticator goes through a replay cache, as in recvauth. */
	krb5_data piece = { 0 };
	piece.data = (char *)"host";
	piece.length = 4;
	if (krb5_princ_size(k->ctx, k->me) > 0)
		piece = *krb5_princ_component(k->ctx, k->me, 0);
	kret = krb5_get_server_rcache(k->ctx, &piece, &rc);
	/* The auth context owns the rcache from here (auth_con_free closes
	 * it); setrcache only stores the pointer. */
	if (kret == 0)
		kret = krb5_auth_con_setrcache(k->ctx, k->ac, rc);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5,
				"while opening the replay cache", NULL, 0);
	kret = krb5_rd_req(k->ctx, &k->ac, &in, k->me, k->kt, NULL, &t);
	if (kret != 0) {
		(void)make_error(k, kret, NULL, err_out);
		return krb_fail(k, kret, KS_EAUTH, "while verifying the AP-REQ",
				NULL, 0);
	}
	k->ticket_enctype = t->enc_part.enctype;
	kret = krb5_copy_principal(k->ctx, t->enc_part2->client, &k->client);
	krb5_free_ticket(k->ctx, t);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5, "while copying the client",
				NULL, 0);
	unparse_into(k, k->client, k->client_name, sizeof(k->client_name));
	return KS_EOK;
}

static int op_mk_rep(void *ctx, ks_buf_t *out)
{
	kprop_krb_t *k = ctx;
	krb5_data d = { 0 };
	krb5_error_code kret = krb5_mk_rep(k->ctx, k->ac, &d);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5, "while building the AP-REP",
				NULL, 0);
	return take_data(k, &d, out);
}

static int parse_enctype(const char *name, int32_t *out, void *arg)
{
	(void)arg;
	krb5_enctype et;
	if (krb5_string_to_enctype((char *)(uintptr_t)name, &et) != 0)
		return -1;
	*out = et;
	return 0;
}

static int op_authorize(void *ctx)
{
	kprop_krb_t *k = ctx;
	ks_buf_t file = KS_BUF_INIT;
	FILE *f = fopen(k->acl_file, "r");
	int ret = KS_EACL;
	if (f == NULL) {
		ks_log_warn(KPROP,
			    "kprop: cannot open ACL file %s (%s): %s denied",
			    k->acl_file, strerror(errno), k->client_name);
		return KS_EACL;
	}
	for (;;) {
		if (ks_buf_reserve(&file, 4096) != KS_EOK) {
			ret = KS_ENOMEM;
			goto done;
		}
		size_t n = fread(file.data + file.len, 1, 4096, f);
		file.len += n;
		if (n == 0)
			break;
		if (file.len > ACL_FILE_MAX) {
			ks_log_warn(KPROP,
				    "kprop: ACL file %s is over %u bytes",
				    k->acl_file, ACL_FILE_MAX);
			goto done;
		}
	}
	if (kprop_acl_match(ks_buf_view(&file), k->client_name,
			    k->ticket_enctype, parse_enctype, NULL))
		ret = KS_EOK;
	else
		ks_log_warn(
			KPROP,
			"kprop: rejected connection from unauthorized principal %s (not in %s)",
			k->client_name, k->acl_file);
done:
	fclose(f);
	ks_buf_free(&file);
	return ret;
}

static int op_mk_safe(void *ctx, ks_view_t data, ks_buf_t *out)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(data), d = { 0 };
	krb5_error_code kret = krb5_mk_safe(k->ctx, k->ac, &in, &d, NULL);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5, "krb5_mk_safe", NULL, 0);
	return take_data(k, &d, out);
}

static int op_rd_safe(void *ctx, ks_view_t msg, ks_buf_t *out)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(msg), d = { 0 };
	krb5_error_code kret = krb5_rd_safe(k->ctx, k->ac, &in, &d, NULL);
	if (kret != 0)
		return krb_fail(k, kret, KS_EAUTH, "krb5_rd_safe", NULL, 0);
	return take_data(k, &d, out);
}

static int op_init_ivector(void *ctx)
{
	kprop_krb_t *k = ctx;
	krb5_error_code kret = krb5_auth_con_initivector(k->ctx, k->ac);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5, "krb5_auth_con_initivector",
				NULL, 0);
	return KS_EOK;
}

static int op_mk_priv(void *ctx, ks_view_t data, ks_buf_t *out)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(data), d = { 0 };
	krb5_error_code kret = krb5_mk_priv(k->ctx, k->ac, &in, &d, NULL);
	if (kret != 0)
		return krb_fail(k, kret, KS_EKRB5, "krb5_mk_priv", NULL, 0);
	return take_data(k, &d, out);
}

static int op_rd_priv(void *ctx, ks_view_t msg, ks_buf_t *out)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(msg), d = { 0 };
	krb5_error_code kret = krb5_rd_priv(k->ctx, k->ac, &in, &d, NULL);
	if (kret != 0)
		return krb_fail(k, kret, KS_EAUTH, "krb5_rd_priv", NULL, 0);
	return take_data(k, &d, out);
}

static int op_mk_error(void *ctx, int code, const char *text, ks_buf_t *out)
{
	(void)code; /* KS codes have no krb5 number: KRB_ERR_GENERIC */
	return make_error(ctx, 0, text, out);
}

static void op_rd_error(void *ctx, ks_view_t msg, char *text, size_t len)
{
	kprop_krb_t *k = ctx;
	krb5_data in = as_data(msg);
	krb5_error *e = NULL;
	krb5_error_code kret = krb5_rd_error(k->ctx, &in, &e);
	if (kret != 0) {
		snprintf(text, len, "undecodable KRB-ERROR");
		return;
	}
	int tl = (int)e->text.length;
	if (tl > 0 && e->text.data[tl - 1] == '\0')
		tl--;
	if (e->error == KRB_ERR_GENERIC_CODE)
		snprintf(text, len, "Generic remote error: %.*s", tl,
			 e->text.data);
	else
		snprintf(text, len, "%s%s%.*s",
			 error_message((long)e->error + ERROR_TABLE_BASE_krb5),
			 tl > 0 ? ": " : "", tl, e->text.data);
	krb5_free_error(k->ctx, e);
}

const kprop_ops_t kprop_krb_ops = {
	.mk_req = op_mk_req,
	.rd_rep = op_rd_rep,
	.rd_req = op_rd_req,
	.mk_rep = op_mk_rep,
	.authorize = op_authorize,
	.mk_safe = op_mk_safe,
	.rd_safe = op_rd_safe,
	.init_ivector = op_init_ivector,
	.mk_priv = op_mk_priv,
	.rd_priv = op_rd_priv,
	.mk_error = op_mk_error,
	.rd_error = op_rd_error,
	.sink = NULL, /* set by the receiver's own table */
};

const char *kprop_krb_client_name(const kprop_krb_t *k)
{
	return k->client_name;
}

const char *kprop_krb_own_name(const kprop_krb_t *k)
{
	return k->me_name;
}

const char *kprop_krb_target_name(const kprop_krb_t *k)
{
	return k->target_name;
}

void kprop_krb_free(kprop_krb_t *k)
{
	if (k == NULL)
		return;
	if (k->ac != NULL)
		krb5_auth_con_free(k->ctx, k->ac);
	if (k->have_creds)
		krb5_free_cred_contents(k->ctx, &k->creds);
	krb5_free_principal(k->ctx, k->me);
	krb5_free_principal(k->ctx, k->target);
	krb5_free_principal(k->ctx, k->client);
	if (k->kt != NULL)
		krb5_kt_close(k->ctx, k->kt);
	free(k->acl_file);
	krb5_free_context(k->ctx);
	free(k);
}
