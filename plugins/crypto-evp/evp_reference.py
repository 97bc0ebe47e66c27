#!/usr/bin/env python3
"""Reference reader and writer of the crypto-evp blob format, version 1.

It follows docs/FORMAT.md ("Encryption layer: crypto-evp") and uses only
the Python "cryptography" package, so it checks the C module against an
independent implementation. It is not used by qstack itself.

    evp_reference.py example        print the worked example of the docs
    evp_reference.py decrypt KEYHEX KIND ID LOADERHEX FILE
                                    decrypt FILE with a raw key, print hex
"""
import hashlib
import hmac
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import (
    AESGCM, ChaCha20Poly1305)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"QEVP"
VERSION = 1
CHUNK_SIZE = 65536
FINAL_BIT = 0x80000000
LABEL_KEYS = b"qstack crypto-evp v1 keys"
LABEL_KEYID = b"qstack crypto-evp v1 key id"
LABEL_BIND = b"qstack crypto-evp v1 binding"

# name: (aead, key length, IV or nonce length, block length)
CIPHERS = {
    "aes-128-gcm": (True, 16, 12, 1),
    "aes-192-gcm": (True, 24, 12, 1),
    "aes-256-gcm": (True, 32, 12, 1),
    "chacha20-poly1305": (True, 32, 12, 1),
    "aes-128-cbc": (False, 16, 16, 16),
    "aes-256-cbc": (False, 32, 16, 16),
    "aes-256-ctr": (False, 32, 16, 1),
    "bf-cbc": (False, 16, 8, 8),
}
# name: (hashlib name, cryptography hash class, PBKDF2 iterations)
DIGESTS = {
    "sha1": ("sha1", hashes.SHA1, 1300000),
    "sha256": ("sha256", hashes.SHA256, 600000),
    "sha384": ("sha384", hashes.SHA384, 210000),
    "sha512": ("sha512", hashes.SHA512, 210000),
}


class FormatError(Exception):
    """Raised with the qstack status name: TRUNCATED, CORRUPT, AUTH."""


def master_from_passphrase(passphrase, queue_salt, digest):
    name, _, iterations = DIGESTS[digest]
    return hashlib.pbkdf2_hmac(name, passphrase, queue_salt, iterations, 32)


def key_id(master, digest):
    return hmac.new(master, LABEL_KEYID, DIGESTS[digest][0]).digest()[:8]


def blob_keys(master, salt, cipher, digest):
    aead, key_len, _, _ = CIPHERS[cipher]
    size = hashlib.new(DIGESTS[digest][0]).digest_size
    info = (LABEL_KEYS + bytes([len(cipher)]) + cipher.encode() +
            bytes([len(digest)]) + digest.encode())
    second = 7 if aead else size
    okm = HKDF(DIGESTS[digest][1](), key_len + second, salt,
               info).derive(master)
    return okm[:key_len], okm[key_len:]


def binding(kind, blob_id, loader_header, layer_header):
    data = (LABEL_BIND + struct.pack(">I", kind) +
            struct.pack(">Q", len(blob_id)) + blob_id +
            struct.pack(">Q", len(loader_header)) + loader_header +
            struct.pack(">Q", len(layer_header)) + layer_header)
    return hashlib.sha256(data).digest()


def make_header(cipher, digest, kid, salt, chunk_size=CHUNK_SIZE):
    names = (bytes([len(cipher)]) + cipher.encode() +
             bytes([len(digest)]) + digest.encode())
    length = 50 + len(names)
    return (MAGIC + bytes([VERSION, length]) +
            struct.pack(">I", chunk_size) + kid + salt + names)


def block_cipher(cipher, key):
    if cipher == "bf-cbc":
        return Blowfish(key)
    return algorithms.AES(key)


def seal_chunk(cipher, digest, keys, bind, counter, final, plain, iv):
    aead, _, iv_len, block = CIPHERS[cipher]
    word = struct.pack(">I", (FINAL_BIT if final else 0) | len(plain))
    enc_key, second = keys
    if aead:
        nonce = second + struct.pack(">IB", counter, 1 if final else 0)
        box = (ChaCha20Poly1305(enc_key) if cipher == "chacha20-poly1305"
               else AESGCM(enc_key))
        return word + box.encrypt(nonce, plain, bind + word)
    if block > 1:
        padder = padding.PKCS7(block * 8).padder()
        plain = padder.update(plain) + padder.finalize()
        mode = modes.CBC(iv)
    else:
        mode = modes.CTR(iv)
    encryptor = Cipher(block_cipher(cipher, enc_key), mode).encryptor()
    ct = encryptor.update(plain) + encryptor.finalize()
    mac = hmac.new(second, bind + struct.pack(">I", counter) + word + iv +
                   ct, DIGESTS[digest][0]).digest()
    return word + iv + ct + mac


def encrypt(master, cipher, digest, kind, blob_id, loader_header, plain,
            salt, ivs=None, chunk_size=CHUNK_SIZE):
    """Return a blob. ivs yields the IVs of EtM chunks, random if None."""
    header = make_header(cipher, digest, key_id(master, digest), salt,
                         chunk_size)
    bind = binding(kind, blob_id, loader_header, header)
    keys = blob_keys(master, salt, cipher, digest)
    iv_len = CIPHERS[cipher][2]
    out = [header]
    pos = 0
    counter = 0
    while True:
        piece = plain[pos:pos + chunk_size]
        final = pos + chunk_size >= len(plain)
        iv = next(ivs) if ivs is not None else os.urandom(iv_len)
        out.append(seal_chunk(cipher, digest, keys, bind, counter, final,
                              piece, iv))
        if final:
            return b"".join(out)
        pos += chunk_size
        counter += 1


def parse_header(blob):
    if len(blob) < 6:
        raise FormatError("TRUNCATED")
    if blob[:4] != MAGIC or blob[4] != VERSION or blob[5] < 54:
        raise FormatError("CORRUPT")
    length = blob[5]
    if len(blob) < length:
        raise FormatError("TRUNCATED")
    chunk_size = struct.unpack(">I", blob[6:10])[0]
    cl = blob[50]
    if 52 + cl > length:
        raise FormatError("CORRUPT")
    dl = blob[51 + cl]
    if 52 + cl + dl != length or not 1 <= chunk_size <= CHUNK_SIZE:
        raise FormatError("CORRUPT")
    cipher = blob[51:51 + cl].decode("ascii", "replace")
    digest = blob[52 + cl:length].decode("ascii", "replace")
    if cipher not in CIPHERS or digest not in DIGESTS:
        raise FormatError("CORRUPT")
    return (blob[:length], chunk_size, blob[10:18], blob[18:50], cipher,
            digest)


def open_chunk(cipher, digest, keys, bind, counter, frame, final, length):
    aead, _, iv_len, block = CIPHERS[cipher]
    word = frame[:4]
    enc_key, second = keys
    if aead:
        nonce = second + struct.pack(">IB", counter, 1 if final else 0)
        box = (ChaCha20Poly1305(enc_key) if cipher == "chacha20-poly1305"
               else AESGCM(enc_key))
        try:
            return box.decrypt(nonce, frame[4:], bind + word)
        except InvalidTag:
            raise FormatError("AUTH") from None
    size = hashlib.new(DIGESTS[digest][0]).digest_size
    iv = frame[4:4 + iv_len]
    ct = frame[4 + iv_len:-size]
    expect = hmac.new(second, bind + struct.pack(">I", counter) + word +
                      iv + ct, DIGESTS[digest][0]).digest()
    if not hmac.compare_digest(expect, frame[-size:]):
        raise FormatError("AUTH")
    mode = modes.CBC(iv) if block > 1 else modes.CTR(iv)
    decryptor = Cipher(block_cipher(cipher, enc_key), mode).decryptor()
    plain = decryptor.update(ct) + decryptor.finalize()
    if block > 1:
        unpadder = padding.PKCS7(block * 8).unpadder()
        plain = unpadder.update(plain) + unpadder.finalize()
    if len(plain) != length:
        raise FormatError("CORRUPT")
    return plain


def frame_length(cipher, digest, length):
    aead, _, iv_len, block = CIPHERS[cipher]
    if aead:
        return 4 + length + 16
    size = hashlib.new(DIGESTS[digest][0]).digest_size
    ct_len = (length // block + 1) * block if block > 1 else length
    return 4 + iv_len + ct_len + size


def decrypt(masters, kind, blob_id, loader_header, blob):
    """Return the plaintext, trying each 32-byte key of masters."""
    header, chunk_size, kid, salt, cipher, digest = parse_header(blob)
    master = next((m for m in masters if key_id(m, digest) == kid), None)
    if master is None:
        raise FormatError("NOKEY " + kid.hex())
    bind = binding(kind, blob_id, loader_header, header)
    keys = blob_keys(master, salt, cipher, digest)
    pos = len(header)
    counter = 0
    out = []
    while True:
        if len(blob) < pos + 4:
            raise FormatError("TRUNCATED")
        word = struct.unpack(">I", blob[pos:pos + 4])[0]
        final = bool(word & FINAL_BIT)
        length = word & ~FINAL_BIT
        if length > chunk_size or (not final and length != chunk_size):
            raise FormatError("CORRUPT")
        end = pos + frame_length(cipher, digest, length)
        if len(blob) < end:
            raise FormatError("TRUNCATED")
        out.append(open_chunk(cipher, digest, keys, bind, counter,
                              blob[pos:end], final, length))
        pos = end
        counter += 1
        if final:
            if pos != len(blob):
                raise FormatError("CORRUPT")
            return b"".join(out)


def hexdump(label, data):
    print(label + ":")
    for i in range(0, len(data), 32):
        print("    " + data[i:i + 32].hex())


EXAMPLE_KEY = bytes(range(0x00, 0x20))
EXAMPLE_SALT = bytes(range(0x20, 0x40))
EXAMPLE_QUEUE_SALT = bytes(range(0x40, 0x60))
EXAMPLE_PASSPHRASE = b"correct horse battery staple"
EXAMPLE_KIND = 1
EXAMPLE_ID = b"5f2a9c01"
EXAMPLE_LOADER_HEADER = bytes.fromhex("51534c4401000000")
EXAMPLE_PLAINTEXT = b"hello, queue\n"
EXAMPLE_IV = bytes(range(0x60, 0x70))


def example(cipher, digest):
    master = EXAMPLE_KEY
    blob = encrypt(master, cipher, digest, EXAMPLE_KIND, EXAMPLE_ID,
                   EXAMPLE_LOADER_HEADER, EXAMPLE_PLAINTEXT, EXAMPLE_SALT,
                   ivs=iter([EXAMPLE_IV]))
    header = blob[:blob[5]]
    keys = blob_keys(master, EXAMPLE_SALT, cipher, digest)
    bind = binding(EXAMPLE_KIND, EXAMPLE_ID, EXAMPLE_LOADER_HEADER, header)
    word = blob[len(header):len(header) + 4]
    print("== %s with %s ==" % (cipher, digest))
    print("key id: " + key_id(master, digest).hex())
    hexdump("HKDF info", LABEL_KEYS + bytes([len(cipher)]) +
            cipher.encode() + bytes([len(digest)]) + digest.encode())
    hexdump("encryption key", keys[0])
    hexdump("nonce prefix" if CIPHERS[cipher][0] else "MAC key", keys[1])
    hexdump("bound data SHA-256", bind)
    if CIPHERS[cipher][0]:
        hexdump("chunk 0 nonce", keys[1] + struct.pack(">IB", 0, 1))
        hexdump("chunk 0 AAD", bind + word)
    hexdump("layer header", header)
    hexdump("chunk 0 (final)", blob[len(header):])
    hexdump("whole blob", blob)
    assert decrypt([master], EXAMPLE_KIND, EXAMPLE_ID, EXAMPLE_LOADER_HEADER,
                   blob) == EXAMPLE_PLAINTEXT


def main(argv):
    if len(argv) == 2 and argv[1] == "example":
        example("aes-256-gcm", "sha256")
        example("aes-128-cbc", "sha512")
        master = master_from_passphrase(EXAMPLE_PASSPHRASE,
                                        EXAMPLE_QUEUE_SALT, "sha256")
        print("== passphrase with sha256 ==")
        hexdump("master key", master)
        print("key id: " + key_id(master, "sha256").hex())
        return 0
    if len(argv) == 7 and argv[1] == "decrypt":
        with open(argv[6], "rb") as f:
            blob = f.read()
        try:
            plain = decrypt([bytes.fromhex(argv[2])], int(argv[3]),
                            argv[4].encode(), bytes.fromhex(argv[5]), blob)
        except FormatError as e:
            print("error: " + str(e))
            return 1
        print(hashlib.sha256(plain).hexdigest(), len(plain))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
