/* SPDX-License-Identifier: MIT */
/*
 * Frame assembler: turns an arbitrary chunking of a byte stream into whole
 * frames.  Pure code over buffers, no I/O: the TLS layer feeds it whatever
 * plaintext SSL_read_ex produced, and it calls back once per whole frame.
 *
 * Wire form (PROTOCOL.md §2): a frame is a 4-byte big-endian length N
 * followed by N bytes; N counts the message type byte and the payload, so
 * N >= 1.  N == 0 is KS_EMALF; N > the assembler's max_frame is KS_ETOOBIG,
 * detected from the 4-byte prefix alone, before anything is allocated.
 *
 * Ownership and lifetime:
 *   - proto_frame_t is caller-owned memory (embed it or allocate it);
 *     proto_frame_init() / proto_frame_deinit() bracket its use.
 *   - Bytes passed to proto_frame_feed() are borrowed for the duration of the
 *     call only; nothing keeps a pointer to them afterwards.
 *   - The frame view given to the callback is borrowed and valid only until
 *     the callback returns (it points either into the caller's chunk, when a
 *     frame lies wholly inside it, or into the assembler's own buffer).  Copy
 *     what you need to keep.
 *
 * Errors are sticky: after KS_EMALF or KS_ETOOBIG every later feed returns
 * the same code and delivers nothing; the connection must be closed (after
 * sending an ERROR message if the caller wishes).
 *
 * Not thread-safe; one assembler per connection direction.  Not re-entrant:
 * the callback must not feed or deinit the same assembler; to close the
 * connection from the callback, return nonzero and deinit after the feed
 * returns.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Size of the length prefix. */
#define PROTO_FRAME_PREFIX 4u

/* Hard ceiling for any frame (type + payload), whatever the configuration. */
#define PROTO_FRAME_MAX_HARD (64u * 1024u * 1024u)

/* Default maximum frame size (type + payload): 16 MiB. */
#define PROTO_FRAME_MAX_DEFAULT (16u * 1024u * 1024u)

/*
 * Called once per whole frame with its N bytes (type byte first).  Return 0
 * to continue, any other value (typically a negative KS_E*) to stop: the feed
 * returns that value at once and reports how many input bytes it consumed
 * (the frame just delivered is consumed; later bytes are not).
 */
typedef int (*proto_frame_cb)(ks_view_t frame, void *ctx);

/*
 * Assembler state.  All fields are private: read none, write none; use the
 * functions below.
 */
typedef struct proto_frame {
	uint32_t max_frame; /* limit for N */
	uint8_t hdr[PROTO_FRAME_PREFIX];
	uint8_t hdr_have; /* bytes of the prefix collected so far */
	uint32_t need; /* N of the frame being collected (valid if hdr full) */
	uint32_t have; /* bytes of that frame collected in buf */
	uint8_t *buf;  /* partial-frame buffer, owned, may be NULL */
	size_t cap;    /* its capacity */
	int err;       /* sticky error, KS_EOK while fine */
} proto_frame_t;

/**
 * \brief Prepare an assembler.
 * \param max_frame largest acceptable N; 0 = PROTO_FRAME_MAX_DEFAULT; values
 *        above PROTO_FRAME_MAX_HARD are clamped to it.
 * \note Allocates nothing.
 */
void proto_frame_init(proto_frame_t *f, uint32_t max_frame);

/** \brief Release the assembler's buffer; \p f may be re-initialised. */
void proto_frame_deinit(proto_frame_t *f);

/**
 * \brief Feed \p len bytes of the stream; call \p cb for each whole frame.
 * \param consumed if not NULL, set to the number of input bytes consumed
 *        (always \p len unless the callback stopped or an error occurred).
 *        Unconsumed bytes are still the caller's: feed them again later.
 * \return KS_EOK when all input was consumed; the callback's nonzero return
 *         if it stopped; KS_ETOOBIG if a prefix announces more than
 *         max_frame; KS_EMALF for a zero-length frame; KS_ENOMEM.
 * \note The frame view passed to \p cb is valid only during that call.
 */
int proto_frame_feed(proto_frame_t *f, const uint8_t *bytes, size_t len,
		     proto_frame_cb cb, void *ctx, size_t *consumed);

/**
 * \brief Whether the assembler sits between frames (no partial frame held).
 * Useful to tell a clean EOF from a truncated stream.
 */
int proto_frame_idle(const proto_frame_t *f);

/**
 * \brief Append the 4-byte length prefix for a frame of \p n bytes.
 * \return KS_EOK, KS_ETOOBIG (n == 0 or n > PROTO_FRAME_MAX_HARD), KS_ENOMEM.
 */
int proto_frame_put_prefix(ks_buf_t *out, size_t n);
