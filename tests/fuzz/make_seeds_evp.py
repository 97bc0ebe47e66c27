#!/usr/bin/env python3
"""Adds crypto-evp seeds with small chunk sizes to the fuzz corpora.

The module always writes 64 KiB chunks, so blobs of several chunks would
exceed the 64 KiB seed size. The format lets a blob choose any chunk size
from 1 to 65536, so these seeds use small ones. They are encrypted with
plugins/crypto-evp/evp_reference.py under the fixed key, ids and loader
header of tests/fuzz/fuzz_common.h.

    make_seeds_evp.py CORPUS-DIR
"""
import os
import re
import struct
import sys
import zlib

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "plugins", "crypto-evp"))

import evp_reference  # noqa: E402

BLOB_MESSAGE = 1
BLOB_ENVELOPE = 2

# cipher, digest, chunk size, plaintext length
SMALL_CHUNKS = [
    ("aes-256-gcm", "sha256", 16, 100),
    ("chacha20-poly1305", "sha1", 1, 5),
    ("aes-128-cbc", "sha384", 32, 64),
    ("aes-256-ctr", "sha512", 100, 250),
    ("aes-128-gcm", "sha256", 7, 0),
    ("bf-cbc", "sha256", 24, 50),
]


def common_defines():
    """Return the string macros of fuzz_common.h, expanded."""
    path = os.path.join(TOP, "tests", "fuzz", "fuzz_common.h")
    with open(path, encoding="ascii") as f:
        text = f.read().replace("\\\n", " ")
    found = {}
    for name, value in re.findall(r'#define (FUZZ_\w+)\s+(.+)', text):
        parts = re.findall(r'(FUZZ_\w+)|"((?:[^"\\]|\\.)*)"', value)
        if not parts:
            continue
        found[name] = "".join(found.get(ref, "") if ref else
                              lit.encode().decode("unicode_escape")
                              for ref, lit in parts)
    return found


def text(length):
    line = b"Subject: fuzz seed with a few words of text\r\n"
    return (line * (length // len(line) + 1))[:length]


def frame_header(kind, layers):
    """Return the loader's blob header for layers [(stem, version)]."""
    body = b"".join(bytes([len(stem)]) + stem.encode() +
                    struct.pack(">H", version) for stem, version in layers)
    length = 9 + len(body)
    return (b"QSTK" + bytes([1, kind]) + struct.pack(">H", length) +
            bytes([len(layers)]) + body)


def framed(header, body):
    trailer = struct.pack(">QI", len(body), zlib.crc32(header + body))
    return header + body + trailer


def write(corpus, target, name, data):
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: make_seeds_evp.py CORPUS-DIR")
    corpus = argv[1]
    d = common_defines()
    key = bytes.fromhex(d["FUZZ_KEY_HEX"])
    msgid = d["FUZZ_MSGID"].encode()
    evpid = d["FUZZ_EVPID"].encode()
    loader_header = d["FUZZ_LOADER_HEADER"].encode("latin-1")

    for i, (cipher, digest, chunk, length) in enumerate(SMALL_CHUNKS):
        blob = evp_reference.encrypt(key, cipher, digest, BLOB_MESSAGE,
                                     msgid, loader_header, text(length),
                                     os.urandom(32), chunk_size=chunk)
        write(corpus, "evp", "chunks-%s-%d" % (cipher, chunk),
              bytes([0, 200 + i]) + blob)

    evp_only = [("crypto-evp", 1)]
    for kind, blob_id, name in ((BLOB_MESSAGE, msgid, "message"),
                                (BLOB_ENVELOPE, evpid, "envelope")):
        header = frame_header(kind, evp_only)
        body = evp_reference.encrypt(key, "aes-256-gcm", "sha256", kind,
                                     blob_id, header, text(300),
                                     os.urandom(32), chunk_size=64)
        write(corpus, "read", "chunks-evp-%s" % name, framed(header, body))

    layers = [("compress-zlib", 1), ("crypto-evp", 1)]
    header = frame_header(BLOB_MESSAGE, layers)
    body = evp_reference.encrypt(key, "aes-256-cbc", "sha256", BLOB_MESSAGE,
                                 msgid, header, zlib.compress(text(5000)),
                                 os.urandom(32), chunk_size=20)
    write(corpus, "read", "chunks-zlib-evp-message", framed(header, body))


if __name__ == "__main__":
    main(sys.argv)
