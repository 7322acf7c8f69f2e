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

static inline void sma_cleanse(void *p, size_t n) { OPENSSL_cleanse(p, n); }
#endif
