/* SPDX-License-Identifier: MIT */
/* Names and messages for the codes of errors.h, generated from its tables. */
#include "common/errors.h"

#include <string.h>

const char *ks_strerror(int code)
{
	switch (code) {
	case KS_EOK:
		return "success";
#define KS__POSIX_MSG(name, msg)                                               \
	case KS_##name:                                                        \
		return msg;
		KS_POSIX_ERRORS(KS__POSIX_MSG)
#undef KS__POSIX_MSG
#define KS__PROJ_MSG(name, val, msg)                                           \
	case KS_##name:                                                        \
		return msg;
		KS_PROJECT_ERRORS(KS__PROJ_MSG)
#undef KS__PROJ_MSG
	default:
		break;
	}
	if (code < 0 && code > -1000)
		return strerror(-code);
	return "unknown error";
}

const char *ks_errname(int code)
{
	switch (code) {
	case KS_EOK:
		return "KS_EOK";
#define KS__POSIX_NAME(name, msg)                                              \
	case KS_##name:                                                        \
		return "KS_" #name;
		KS_POSIX_ERRORS(KS__POSIX_NAME)
#undef KS__POSIX_NAME
#define KS__PROJ_NAME(name, val, msg)                                          \
	case KS_##name:                                                        \
		return "KS_" #name;
		KS_PROJECT_ERRORS(KS__PROJ_NAME)
#undef KS__PROJ_NAME
	default:
		return "KS_E?";
	}
}
