#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/*
 * The hot path of token validation, on the system's OpenSSL libcrypto
 * (SHA-NI / AES-NI). Everything else uses swift-crypto. These are the only
 * OpenSSL calls in the project; Core/Crypto/FastTokenCrypto.swift wraps them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <string.h>
#include <stdint.h>

/* HMAC-SHA256 key schedule: inner and outer SHA-256 states after the padded key block. */
typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} sma_hmac_sha256_state;

static inline void sma_hmac_sha256_init(sma_hmac_sha256_state *s, const uint8_t *key, size_t key_len) {
    uint8_t block[64];
    uint8_t hashed[32];
    if (key_len > 64) { SHA256(key, key_len, hashed); key = hashed; key_len = 32; }
    memset(block, 0, sizeof block);
    memcpy(block, key, key_len);
    for (int i = 0; i < 64; i++) block[i] ^= 0x36;
    SHA256_Init(&s->inner);
    SHA256_Update(&s->inner, block, 64);
    for (int i = 0; i < 64; i++) block[i] ^= (0x36 ^ 0x5c);
    SHA256_Init(&s->outer);
    SHA256_Update(&s->outer, block, 64);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(hashed, sizeof hashed);
}

static inline void sma_hmac_sha256_finish(const sma_hmac_sha256_state *s, const uint8_t *msg, size_t len, uint8_t out[32]) {
    SHA256_CTX c = s->inner;
    uint8_t inner[32];
    SHA256_Update(&c, msg, len);
    SHA256_Final(inner, &c);
    c = s->outer;
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof c);
    OPENSSL_cleanse(inner, sizeof inner);
}

/*
 * HMAC-SHA256 of exactly 32 bytes (a NUC hash) with a precomputed key schedule: two SHA-256 compressions on
 * pre-padded blocks (inner: 64 key bytes + 32 message bytes = 768 bits; outer: 64 + 32 digest bytes = 768 bits),
 * without SHA256_Update/Final's buffering. Equal to sma_hmac_sha256_finish(s, msg, 32, out).
 */
static inline void sma_hmac_sha256_32(const sma_hmac_sha256_state *s, const uint8_t msg[32], uint8_t out[32]) {
    SHA256_CTX c;
    uint8_t block[64];
    memcpy(block, msg, 32);
    memset(block + 32, 0, 32);
    block[32] = 0x80;
    block[62] = 0x03;               /* (64 + 32) * 8 = 768 = 0x0300 bits, big-endian */
    memcpy(c.h, s->inner.h, sizeof c.h);
    SHA256_Transform(&c, block);
    for (int i = 0; i < 8; i++) {
        block[4 * i] = (uint8_t)(c.h[i] >> 24); block[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
        block[4 * i + 2] = (uint8_t)(c.h[i] >> 8); block[4 * i + 3] = (uint8_t)c.h[i];
    }
    memcpy(c.h, s->outer.h, sizeof c.h);
    SHA256_Transform(&c, block);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c.h[i] >> 24); out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c.h[i] >> 8); out[4 * i + 3] = (uint8_t)c.h[i];
    }
}

/*
 * Birthmark key derivation for a run of key indices of one table:
 * out[k] = HKDF-SHA256(ikm = master, salt = none, info = BE32(first + k) || "Birthmark", L = 32).
 * With L = 32 the expand step is a single HMAC(PRK, info || 0x01); the PRK's
 * HMAC key schedule is computed once per table, so each key costs two SHA-256 blocks.
 */
static inline void sma_birthmark_derive_keys(const uint8_t master[32], uint32_t first, uint32_t count, uint8_t *out) {
    static const uint8_t zero_salt[32] = {0};
    sma_hmac_sha256_state st;
    uint8_t prk[32];
    sma_hmac_sha256_init(&st, zero_salt, 32);
    sma_hmac_sha256_finish(&st, master, 32, prk);
    sma_hmac_sha256_init(&st, prk, 32);
    uint8_t info[14] = {0, 0, 0, 0, 'B', 'i', 'r', 't', 'h', 'm', 'a', 'r', 'k', 0x01};
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i = first + k;
        info[0] = (uint8_t)(i >> 24); info[1] = (uint8_t)(i >> 16); info[2] = (uint8_t)(i >> 8); info[3] = (uint8_t)i;
        sma_hmac_sha256_finish(&st, info, sizeof info, out + 32 * (size_t)k);
    }
    OPENSSL_cleanse(&st, sizeof st);
    OPENSSL_cleanse(prk, sizeof prk);
}

/* One AES-256-GCM context per thread, cipher fetched once; re-keyed per call. */
static inline EVP_CIPHER_CTX *sma_gcm_thread_context(void) {
    static __thread EVP_CIPHER_CTX *ctx = NULL;
    if (ctx == NULL) {
        ctx = EVP_CIPHER_CTX_new();
        if (ctx == NULL) return NULL;
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1) { EVP_CIPHER_CTX_free(ctx); ctx = NULL; return NULL; }
    }
    return ctx;
}

/*
 * Opens a Birthmark camera token: AES-256-GCM, 12-byte nonce, no AAD, 32-byte plaintext.
 * Returns 1 and writes the plaintext when the tag verifies, 0 when it does not, -1 on an internal error.
 */
static inline int sma_gcm_open32(const uint8_t key[32], const uint8_t nonce[12], const uint8_t ciphertext[32], const uint8_t tag[16], uint8_t plaintext[32]) {
    EVP_CIPHER_CTX *ctx = sma_gcm_thread_context();
    if (ctx == NULL) return -1;
    int len = 0;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return -1;
    if (EVP_DecryptUpdate(ctx, plaintext, &len, ciphertext, 32) != 1 || len != 32) return -1;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1) return -1;
    int ok = EVP_DecryptFinal_ex(ctx, plaintext + len, &len);
    if (ok != 1) { OPENSSL_cleanse(plaintext, 32); return 0; }
    return 1;
}

/*
 * The same open on AES-NI + PCLMULQDQ directly (x86-64): for a 32-byte token the EVP path spends most of its
 * ~0.5 us in OpenSSL 3's per-call re-initialisation (provider dispatch, key and GHASH-table setup); this does the
 * AES-256 key schedule, four AES blocks (H, J0, two counter blocks) and a three-block GHASH, ~0.1 us.
 * Key schedule and GHASH multiply follow Intel's white papers (AES-NI; Carry-Less Multiplication and GCM, Alg. 1 +
 * reduction with the bit-reflected operands). The tag is compared in constant time. Used only when the CPU has
 * AES-NI, PCLMULQDQ and SSSE3 (sma_gcm_fast_available); tests check it against the conformance vectors, against
 * swift-crypto on random tokens and with every tag and ciphertext bit flipped.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#define SMA_GCM_TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))

static inline int sma_gcm_fast_available(void) {
    __builtin_cpu_init();   /* idempotent; the checks read the runtime's CPU model, no state of ours */
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3")
        && __builtin_cpu_supports("sse4.1");
}

SMA_GCM_TARGET static inline __m128i sma_aes256_assist1(__m128i t1, __m128i t2) {
    __m128i t4;
    t2 = _mm_shuffle_epi32(t2, 0xff);
    t4 = _mm_slli_si128(t1, 4); t1 = _mm_xor_si128(t1, t4);
    t4 = _mm_slli_si128(t4, 4); t1 = _mm_xor_si128(t1, t4);
    t4 = _mm_slli_si128(t4, 4); t1 = _mm_xor_si128(t1, t4);
    return _mm_xor_si128(t1, t2);
}

SMA_GCM_TARGET static inline __m128i sma_aes256_assist2(__m128i t1, __m128i t3) {
    __m128i t2 = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(t1, 0x00), 0xaa);
    __m128i t4;
    t4 = _mm_slli_si128(t3, 4); t3 = _mm_xor_si128(t3, t4);
    t4 = _mm_slli_si128(t4, 4); t3 = _mm_xor_si128(t3, t4);
    t4 = _mm_slli_si128(t4, 4); t3 = _mm_xor_si128(t3, t4);
    return _mm_xor_si128(t3, t2);
}

SMA_GCM_TARGET static inline void sma_aes256_expand(const uint8_t key[32], __m128i ks[15]) {
    __m128i t1 = _mm_loadu_si128((const __m128i *)key), t3 = _mm_loadu_si128((const __m128i *)(key + 16));
    ks[0] = t1; ks[1] = t3;
#define SMA_AES256_STEP(i, rcon) \
    t1 = sma_aes256_assist1(t1, _mm_aeskeygenassist_si128(t3, rcon)); ks[i] = t1; \
    if (i + 1 < 15) { t3 = sma_aes256_assist2(t1, t3); ks[i + 1] = t3; }
    SMA_AES256_STEP(2, 0x01) SMA_AES256_STEP(4, 0x02) SMA_AES256_STEP(6, 0x04) SMA_AES256_STEP(8, 0x08)
    SMA_AES256_STEP(10, 0x10) SMA_AES256_STEP(12, 0x20)
    t1 = sma_aes256_assist1(t1, _mm_aeskeygenassist_si128(t3, 0x40)); ks[14] = t1;
#undef SMA_AES256_STEP
}

/* GF(2^128) multiply of bit-reflected (byte-swapped) operands, with reduction. */
SMA_GCM_TARGET static inline __m128i sma_gfmul(__m128i a, __m128i b) {
    __m128i t2, t3, t4, t5, t6, t7, t8, t9;
    t3 = _mm_clmulepi64_si128(a, b, 0x00);
    t4 = _mm_clmulepi64_si128(a, b, 0x10);
    t5 = _mm_clmulepi64_si128(a, b, 0x01);
    t6 = _mm_clmulepi64_si128(a, b, 0x11);
    t4 = _mm_xor_si128(t4, t5);
    t5 = _mm_slli_si128(t4, 8);
    t4 = _mm_srli_si128(t4, 8);
    t3 = _mm_xor_si128(t3, t5);
    t6 = _mm_xor_si128(t6, t4);
    t7 = _mm_srli_epi32(t3, 31);
    t8 = _mm_srli_epi32(t6, 31);
    t3 = _mm_slli_epi32(t3, 1);
    t6 = _mm_slli_epi32(t6, 1);
    t9 = _mm_srli_si128(t7, 12);
    t8 = _mm_slli_si128(t8, 4);
    t7 = _mm_slli_si128(t7, 4);
    t3 = _mm_or_si128(t3, t7);
    t6 = _mm_or_si128(t6, t8);
    t6 = _mm_or_si128(t6, t9);
    t7 = _mm_slli_epi32(t3, 31);
    t8 = _mm_slli_epi32(t3, 30);
    t9 = _mm_slli_epi32(t3, 25);
    t7 = _mm_xor_si128(t7, t8);
    t7 = _mm_xor_si128(t7, t9);
    t8 = _mm_srli_si128(t7, 4);
    t7 = _mm_slli_si128(t7, 12);
    t3 = _mm_xor_si128(t3, t7);
    t2 = _mm_srli_epi32(t3, 1);
    t4 = _mm_srli_epi32(t3, 2);
    t5 = _mm_srli_epi32(t3, 7);
    t2 = _mm_xor_si128(t2, t4);
    t2 = _mm_xor_si128(t2, t5);
    t2 = _mm_xor_si128(t2, t8);
    t3 = _mm_xor_si128(t3, t2);
    return _mm_xor_si128(t6, t3);
}

/* Same contract as sma_gcm_open32 (never -1). */
SMA_GCM_TARGET static inline int sma_gcm_open32_fast(const uint8_t key[32], const uint8_t nonce[12], const uint8_t ciphertext[32], const uint8_t tag[16], uint8_t plaintext[32]) {
    const __m128i bswap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m128i ks[15];
    sma_aes256_expand(key, ks);
    uint8_t ctr[16];
    memcpy(ctr, nonce, 12);
    ctr[12] = 0; ctr[13] = 0; ctr[14] = 0; ctr[15] = 1;
    __m128i j0 = _mm_loadu_si128((const __m128i *)ctr);
    ctr[15] = 2;
    __m128i c1 = _mm_loadu_si128((const __m128i *)ctr);
    ctr[15] = 3;
    __m128i c2 = _mm_loadu_si128((const __m128i *)ctr);
    __m128i h = _mm_setzero_si128();
    /* Four independent blocks through the 14 rounds together. */
    h = _mm_xor_si128(h, ks[0]); j0 = _mm_xor_si128(j0, ks[0]); c1 = _mm_xor_si128(c1, ks[0]); c2 = _mm_xor_si128(c2, ks[0]);
    for (int r = 1; r < 14; r++) {
        h = _mm_aesenc_si128(h, ks[r]); j0 = _mm_aesenc_si128(j0, ks[r]);
        c1 = _mm_aesenc_si128(c1, ks[r]); c2 = _mm_aesenc_si128(c2, ks[r]);
    }
    h = _mm_aesenclast_si128(h, ks[14]); j0 = _mm_aesenclast_si128(j0, ks[14]);
    c1 = _mm_aesenclast_si128(c1, ks[14]); c2 = _mm_aesenclast_si128(c2, ks[14]);
    __m128i ct1 = _mm_loadu_si128((const __m128i *)ciphertext), ct2 = _mm_loadu_si128((const __m128i *)(ciphertext + 16));
    /* GHASH(H, no AAD, C1 || C2 || len): len block = 0 (AAD bits) || 256 (ciphertext bits), big-endian. */
    __m128i hr = _mm_shuffle_epi8(h, bswap);
    __m128i x = sma_gfmul(_mm_shuffle_epi8(ct1, bswap), hr);
    x = sma_gfmul(_mm_xor_si128(x, _mm_shuffle_epi8(ct2, bswap)), hr);
    x = sma_gfmul(_mm_xor_si128(x, _mm_set_epi64x(0, 256)), hr);
    __m128i expected = _mm_xor_si128(_mm_shuffle_epi8(x, bswap), j0);
    __m128i diff = _mm_xor_si128(expected, _mm_loadu_si128((const __m128i *)tag));
    int ok = _mm_testz_si128(diff, diff);
    __m128i p1 = _mm_xor_si128(ct1, c1), p2 = _mm_xor_si128(ct2, c2);
    /* Plaintext only when the tag verifies (zeroes otherwise), without a data-dependent branch on the bytes. */
    __m128i keep = _mm_set1_epi8(ok ? (char)0xff : 0);
    _mm_storeu_si128((__m128i *)plaintext, _mm_and_si128(p1, keep));
    _mm_storeu_si128((__m128i *)(plaintext + 16), _mm_and_si128(p2, keep));
    return ok;
}
#endif

/* The open the validation path uses: AES-NI/PCLMUL when available, else the EVP path. */
static inline int sma_gcm_open32_any(const uint8_t key[32], const uint8_t nonce[12], const uint8_t ciphertext[32], const uint8_t tag[16], uint8_t plaintext[32]) {
#if defined(__x86_64__)
    if (sma_gcm_fast_available()) return sma_gcm_open32_fast(key, nonce, ciphertext, tag, plaintext);
#endif
    return sma_gcm_open32(key, nonce, ciphertext, tag, plaintext);
}

static inline void sma_cleanse(void *p, size_t n) { OPENSSL_cleanse(p, n); }
#endif
