#!/usr/bin/env python3
"""Read qstack queue blobs as docs/FORMAT.md specifies them.

This reader is written from docs/FORMAT.md alone, so a test can show that
the specification suffices to read what qstack stores. It parses the
metadata record, the blob framing, the compress-zlib and compress-lz4
layers and the crypto-evp layer, and rejects the input that FORMAT.md
requires a reader to reject.

Command-line use:

    python3 tests/format_reader.py QUEUE_DIR KIND ID
        [--key-file F | --passphrase P]...

KIND is "message" or "envelope". The decoded bytes go to standard output.
"""

import argparse
import hashlib
import hmac
import os
import re
import struct
import sys
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import (
    AESGCM,
    ChaCha20Poly1305,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

try:
    import lz4.frame as lz4_frame
except ImportError:
    lz4_frame = None


class FormatError(Exception):
    """Blob or record that this reader cannot decode."""


class TruncatedError(FormatError):
    """Input that ends before the format allows (QS_ERR_TRUNCATED)."""


class CorruptError(FormatError):
    """Input that breaks a rule of the format (QS_ERR_CORRUPT)."""


class AuthError(FormatError):
    """Chunk whose tag or HMAC does not verify (QS_ERR_AUTH)."""


class NoKeyError(FormatError):
    """Blob whose key id matches no given key (QS_ERR_NOKEY)."""


class UnsupportedError(FormatError):
    """Layer, version or cipher this reader cannot decode."""


class LimitError(FormatError):
    """Output or chunk count above a limit of the format (QS_ERR_LIMIT)."""


KIND_MESSAGE = 1
KIND_ENVELOPE = 2
KIND_NAMES = {"message": KIND_MESSAGE, "envelope": KIND_ENVELOPE}

# Metadata record.
META_MAGIC = b"QSMD"
META_VERSION = 1
META_MIN_SALT = 16

# Blob framing.
FRAME_MAGIC = b"QSTK"
FRAME_VERSION = 1
FRAME_MIN_HEADER = 9
FRAME_MAX_HEADER = 512
FRAME_MAX_LAYERS = 4
FRAME_TRAILER = 12
LAYER_NAME = re.compile(rb"[a-z0-9-]+\Z")

# Output limits of the "Limits" section, with qstack's defaults.
DEFAULT_MAX_RATIO = 1100
DEFAULT_MAX_MESSAGE_SIZE = 1 << 30
RATIO_ALLOWANCE = 1 << 20

# crypto-evp.
EVP_MAGIC = b"QEVP"
EVP_VERSION = 1
EVP_MIN_HEADER = 54
EVP_MAX_CHUNK = 65536
EVP_FINAL = 0x80000000
EVP_MAX_INDEX = 0xFFFFFFFF
EVP_TAG = 16
EVP_NONCE_PREFIX = 7
EVP_MASTER = 32
LABEL_KEY_ID = b"qstack crypto-evp v1 key id"
LABEL_BINDING = b"qstack crypto-evp v1 binding"
LABEL_KEYS = b"qstack crypto-evp v1 keys"

# Cipher name: (kind, key bytes, IV or nonce bytes, block bytes).
EVP_CIPHERS = {
    b"aes-128-gcm": ("aead", 16, 12, 0),
    b"aes-192-gcm": ("aead", 24, 12, 0),
    b"aes-256-gcm": ("aead", 32, 12, 0),
    b"chacha20-poly1305": ("aead", 32, 12, 0),
    b"aes-128-cbc": ("etm", 16, 16, 16),
    b"aes-256-cbc": ("etm", 32, 16, 16),
    b"aes-256-ctr": ("etm", 32, 16, 1),
    b"bf-cbc": ("etm", 16, 8, 8),
}

# Digest name: (hashlib name, output bytes D, PBKDF2 iterations).
EVP_DIGESTS = {
    b"sha1": ("sha1", 20, 1300000),
    b"sha256": ("sha256", 32, 600000),
    b"sha384": ("sha384", 48, 210000),
    b"sha512": ("sha512", 64, 210000),
}

HKDF_HASHES = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def parse_meta(record):
    """Return the queue salt of a metadata record (PATH/meta)."""
    if len(record) < 6:
        raise TruncatedError(
            f"metadata record has {len(record)} bytes, fewer than 6")
    if record[:4] != META_MAGIC:
        raise CorruptError(f"metadata magic is {record[:4].hex()}, "
                           f"expected {META_MAGIC.hex()}")
    if record[4] != META_VERSION:
        raise UnsupportedError(f"metadata version {record[4]} is not 1")
    salt_length = record[5]
    if salt_length < META_MIN_SALT:
        raise CorruptError(f"queue salt length {salt_length} is below "
                           f"{META_MIN_SALT}")
    end = 6 + salt_length + 4
    if len(record) < end:
        raise TruncatedError(f"metadata record has {len(record)} bytes, "
                             f"salt length {salt_length} needs {end}")
    if len(record) > end:
        raise CorruptError(f"metadata record has {len(record)} bytes, "
                           f"{len(record) - end} after the CRC-32")
    stored = int.from_bytes(record[end - 4:end], "big")
    if zlib.crc32(record[:end - 4]) != stored:
        raise CorruptError("metadata record CRC-32 does not match")
    return record[6:6 + salt_length]


class Blob:
    """Parsed blob framing: kind, loader header, layers and body."""

    def __init__(self, kind, header, layers, body):
        self.kind = kind
        self.header = header
        self.layers = layers
        self.body = body


def parse_layers(header, count):
    """Return the (name, format version) list of a loader header."""
    layers = []
    offset = FRAME_MIN_HEADER
    for index in range(count):
        if offset >= len(header):
            raise CorruptError(f"layer {index} starts at byte {offset}, "
                               f"past header length {len(header)}")
        name_length = header[offset]
        end = offset + 1 + name_length + 2
        if end > len(header):
            raise CorruptError(f"layer {index} ends at byte {end}, past "
                               f"header length {len(header)}")
        name = header[offset + 1:offset + 1 + name_length]
        if not LAYER_NAME.match(name):
            raise CorruptError(f"layer {index} has invalid name {name!r}: "
                               f"expected lowercase letters, digits, '-'")
        version = struct.unpack(">H", header[end - 2:end])[0]
        layers.append((name.decode("ascii"), version))
        offset = end
    if offset != len(header):
        raise CorruptError(f"header fields take {offset} bytes but header "
                           f"length is {len(header)}")
    return layers


def parse_blob(data):
    """Split a stored blob into its framing fields and check the trailer."""
    if len(data) < FRAME_MIN_HEADER:
        raise TruncatedError(f"blob has {len(data)} bytes, fewer than the "
                             f"{FRAME_MIN_HEADER}-byte minimum header")
    if data[:4] != FRAME_MAGIC:
        raise CorruptError(f"blob magic is {data[:4].hex()}, expected "
                           f"{FRAME_MAGIC.hex()}")
    if data[4] != FRAME_VERSION:
        raise UnsupportedError(f"framing version {data[4]} is not 1")
    kind = data[5]
    if kind not in (KIND_MESSAGE, KIND_ENVELOPE):
        raise CorruptError(f"blob kind {kind} is neither 1 nor 2")
    header_length = struct.unpack(">H", data[6:8])[0]
    if not FRAME_MIN_HEADER <= header_length <= FRAME_MAX_HEADER:
        raise CorruptError(f"header length {header_length} is outside "
                           f"{FRAME_MIN_HEADER} to {FRAME_MAX_HEADER}")
    count = data[8]
    if count > FRAME_MAX_LAYERS:
        raise CorruptError(f"layer count {count} is above "
                           f"{FRAME_MAX_LAYERS}")
    if len(data) < header_length + FRAME_TRAILER:
        raise TruncatedError(f"blob has {len(data)} bytes, fewer than "
                             f"header {header_length} plus trailer "
                             f"{FRAME_TRAILER}")
    header = data[:header_length]
    layers = parse_layers(header, count)

    body = data[header_length:-FRAME_TRAILER]
    trailer = data[-FRAME_TRAILER:]
    stored_length, stored_crc = struct.unpack(">QI", trailer)
    if stored_length > len(body):
        raise TruncatedError(f"trailer gives body length {stored_length} "
                             f"but the body has {len(body)} bytes")
    if stored_length != len(body):
        raise CorruptError(f"trailer gives body length {stored_length} "
                           f"but the body has {len(body)} bytes")
    crc = zlib.crc32(data[:-FRAME_TRAILER])
    if crc != stored_crc:
        raise CorruptError(f"CRC-32 of header and body is {crc:08x}, "
                           f"trailer has {stored_crc:08x}")
    return Blob(kind, header, layers, body)


def output_limit(stored_size, max_ratio=DEFAULT_MAX_RATIO,
                 max_message_size=DEFAULT_MAX_MESSAGE_SIZE):
    """Return the max decoded size of a blob of stored_size bytes."""
    return min(max_ratio * stored_size + RATIO_ALLOWANCE, max_message_size)


def decompress_zlib(data, limit):
    """Decode exactly one RFC 1950 zlib stream, producing at most limit."""
    if len(data) >= 2 and data[1] & 0x20:
        raise CorruptError("zlib stream sets FDICT, which qstack never "
                           "writes")
    decoder = zlib.decompressobj(wbits=15)
    try:
        output = decoder.decompress(data, limit + 1)
    except zlib.error as error:
        raise CorruptError(f"invalid zlib stream: {error}") from None
    if len(output) > limit:
        raise LimitError(f"zlib stream decodes to more than {limit} bytes")
    if decoder.unused_data:
        raise CorruptError(f"{len(decoder.unused_data)} bytes follow the "
                           f"zlib stream's Adler-32")
    if not decoder.eof:
        raise TruncatedError("zlib stream ends before its Adler-32")
    return output


def check_lz4_header(data):
    """Apply the decoder's own checks of an LZ4 frame's first 6 bytes."""
    if len(data) < 6:
        raise TruncatedError(f"LZ4 frame has {len(data)} bytes, fewer "
                             f"than 6")
    magic = struct.unpack("<I", data[:4])[0]
    if magic != 0x184D2204:
        raise CorruptError(f"LZ4 magic is {magic:#010x}, expected "
                           f"0x184d2204")
    flags, block_descriptor = data[4], data[5]
    if flags >> 6 != 1:
        raise CorruptError(f"LZ4 FLG version is {flags >> 6}, expected 1")
    if not flags & 0x04:
        raise CorruptError("LZ4 content checksum flag is clear")
    if flags & 0x01:
        raise CorruptError("LZ4 dictionary ID flag is set")
    if (block_descriptor >> 4) & 0x07 != 4:
        raise CorruptError(f"LZ4 BD byte {block_descriptor:#04x} does not "
                           f"select 64 KB blocks")


def decompress_lz4(data, limit):
    """Decode exactly one LZ4 frame with the lz4 package, if installed."""
    if lz4_frame is None:
        raise UnsupportedError("compress-lz4 needs the Python lz4 package, "
                               "which is not installed")
    check_lz4_header(data)
    decoder = lz4_frame.LZ4FrameDecompressor()
    try:
        output = decoder.decompress(data, max_length=limit + 1)
    except RuntimeError as error:
        raise CorruptError(f"invalid LZ4 frame: {error}") from None
    if len(output) > limit:
        raise LimitError(f"LZ4 frame decodes to more than {limit} bytes")
    if decoder.unused_data:
        raise CorruptError(f"{len(decoder.unused_data)} bytes follow the "
                           f"LZ4 content checksum")
    if not decoder.eof:
        raise TruncatedError("LZ4 frame ends before its content checksum")
    return output


class Key:
    """Configured key: a 32-byte raw key or a passphrase."""

    def __init__(self, raw=None, passphrase=None):
        if (raw is None) == (passphrase is None):
            raise ValueError("give exactly one of raw and passphrase")
        if raw is not None and len(raw) != EVP_MASTER:
            raise ValueError(f"raw key has {len(raw)} bytes, expected "
                             f"{EVP_MASTER}")
        self.raw = raw
        self.passphrase = passphrase
        self._masters = {}

    def master(self, digest, queue_salt):
        """Return the 32-byte master key under a digest name (bytes)."""
        if self.raw is not None:
            return self.raw
        if queue_salt is None:
            raise FormatError("a passphrase needs the queue salt from "
                              "PATH/meta")
        cache_key = (digest, queue_salt)
        if cache_key not in self._masters:
            name, _, iterations = EVP_DIGESTS[digest]
            self._masters[cache_key] = hashlib.pbkdf2_hmac(
                name, self.passphrase, queue_salt, iterations, EVP_MASTER)
        return self._masters[cache_key]


def load_key_file(path):
    """Read a key file as qstack does.

    A file of exactly 32 bytes is a raw key, newline bytes included.
    Otherwise one trailing newline (LF or CR LF) is dropped, and the rest
    is a raw key when it is 64 hexadecimal digits, else a passphrase.
    README.md leaves the order of these steps open. This order matches
    the key ids in blobs that qstack wrote: 32 bytes plus a newline is a
    32-byte passphrase, not a raw key.
    """
    with open(path, "rb") as key_file:
        material = key_file.read()
    if len(material) == EVP_MASTER:
        return Key(raw=material)
    if material.endswith(b"\r\n"):
        material = material[:-2]
    elif material.endswith(b"\n"):
        material = material[:-1]
    if len(material) == 2 * EVP_MASTER and re.fullmatch(
            rb"[0-9a-fA-F]+", material):
        return Key(raw=bytes.fromhex(material.decode("ascii")))
    return Key(passphrase=material)


def key_id(master, digest):
    """Return the 8-byte key id of a master key under a digest name."""
    name = EVP_DIGESTS[digest][0]
    return hmac.new(master, LABEL_KEY_ID, name).digest()[:8]


class EvpHeader:
    """Parsed crypto-evp header."""

    def __init__(self, raw, chunk_size, key_id, salt, cipher, digest):
        self.raw = raw
        self.chunk_size = chunk_size
        self.key_id = key_id
        self.salt = salt
        self.cipher = cipher
        self.digest = digest


def parse_evp_names(raw):
    """Return the (cipher, digest) names of a complete crypto-evp header."""
    header_length = len(raw)
    cipher_length = raw[50]
    digest_at = 51 + cipher_length
    if digest_at >= header_length:
        raise CorruptError(f"cipher name length {cipher_length} runs past "
                           f"header length {header_length}")
    digest_length = raw[digest_at]
    if 52 + cipher_length + digest_length != header_length:
        raise CorruptError(f"name lengths {cipher_length} and "
                           f"{digest_length} do not add up to header "
                           f"length {header_length}")

    cipher = raw[51:digest_at]
    digest = raw[digest_at + 1:]
    if cipher not in EVP_CIPHERS:
        raise CorruptError(f"unknown cipher name {cipher!r}")
    if digest not in EVP_DIGESTS:
        raise CorruptError(f"unknown digest name {digest!r}")
    return cipher, digest


def parse_evp_header(data):
    """Parse and check the crypto-evp header at the start of data."""
    if len(data) < 6:
        raise TruncatedError(f"crypto-evp data has {len(data)} bytes, "
                             f"fewer than 6")
    if data[:4] != EVP_MAGIC:
        raise CorruptError(f"crypto-evp magic is {data[:4].hex()}, "
                           f"expected {EVP_MAGIC.hex()}")
    if data[4] != EVP_VERSION:
        raise CorruptError(f"crypto-evp version {data[4]} is not 1")
    header_length = data[5]
    if header_length < EVP_MIN_HEADER:
        raise CorruptError(f"crypto-evp header length {header_length} is "
                           f"below {EVP_MIN_HEADER}")
    if len(data) < header_length:
        raise TruncatedError(f"crypto-evp data has {len(data)} bytes, "
                             f"header length is {header_length}")

    raw = data[:header_length]
    cipher, digest = parse_evp_names(raw)
    chunk_size = struct.unpack(">I", raw[6:10])[0]
    if not 1 <= chunk_size <= EVP_MAX_CHUNK:
        raise CorruptError(f"chunk size {chunk_size} is outside 1 to "
                           f"{EVP_MAX_CHUNK}")
    return EvpHeader(raw, chunk_size, raw[10:18], raw[18:50], cipher,
                     digest)


def compute_binding(kind, blob_id, loader_header, evp_header):
    """Return the 32-byte SHA-256 binding of a blob's bound data."""
    identifier = blob_id.encode("ascii")
    bound = hashlib.sha256(LABEL_BINDING)
    bound.update(struct.pack(">I", kind))
    bound.update(struct.pack(">Q", len(identifier)) + identifier)
    bound.update(struct.pack(">Q", len(loader_header)) + loader_header)
    bound.update(struct.pack(">Q", len(evp_header)) + evp_header)
    return bound.digest()


def derive_blob_keys(master, header):
    """Return (encryption key, nonce prefix or HMAC key) of one blob."""
    kind, key_length, _, _ = EVP_CIPHERS[header.cipher]
    name, digest_size, _ = EVP_DIGESTS[header.digest]
    extra = EVP_NONCE_PREFIX if kind == "aead" else digest_size
    info = (LABEL_KEYS + bytes([len(header.cipher)]) + header.cipher
            + bytes([len(header.digest)]) + header.digest)
    hkdf = HKDF(algorithm=HKDF_HASHES[name](), length=key_length + extra,
                salt=header.salt, info=info)
    okm = hkdf.derive(master)
    return okm[:key_length], okm[key_length:]


def find_master(header, keys, queue_salt):
    """Return the master key of the first key whose id matches header's."""
    for key in keys:
        master = key.master(header.digest, queue_salt)
        if hmac.compare_digest(key_id(master, header.digest),
                               header.key_id):
            return master
    raise NoKeyError(f"no configured key has key id {header.key_id.hex()} "
                     f"under {header.digest.decode()}")


def blowfish_algorithm():
    """Return the Blowfish class of the installed cryptography package."""
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish
    except ImportError:
        Blowfish = getattr(algorithms, "Blowfish", None)
    if Blowfish is None:
        raise UnsupportedError("bf-cbc is not available in this "
                               "cryptography package")
    return Blowfish


def etm_decrypt(cipher, key, iv, ciphertext):
    """Decrypt one EtM chunk's ciphertext without removing padding."""
    if cipher == b"aes-256-ctr":
        mode, algorithm = modes.CTR(iv), algorithms.AES(key)
    elif cipher == b"bf-cbc":
        mode, algorithm = modes.CBC(iv), blowfish_algorithm()(key)
    else:
        mode, algorithm = modes.CBC(iv), algorithms.AES(key)
    decryptor = Cipher(algorithm, mode).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def remove_padding(padded, block, index):
    """Strip PKCS#7 padding of a CBC chunk's plaintext."""
    pad = padded[-1] if padded else 0
    if not 1 <= pad <= block or padded[-pad:] != bytes([pad]) * pad:
        raise CorruptError(f"chunk {index} has invalid CBC padding")
    return padded[:-pad]


def chunk_frame_length(header, plain_length):
    """Return the stored size of a chunk of plain_length plaintext bytes."""
    kind, _, iv_length, block = EVP_CIPHERS[header.cipher]
    if kind == "aead":
        return 4 + plain_length + EVP_TAG
    if block == 1:
        ciphertext = plain_length
    else:
        ciphertext = (plain_length // block + 1) * block
    return 4 + iv_length + ciphertext + EVP_DIGESTS[header.digest][1]


class EvpChunkReader:
    """Decrypts the chunks of one crypto-evp blob."""

    def __init__(self, header, master, binding):
        self.header = header
        self.binding = binding
        self.kind, _, self.iv_length, self.block = EVP_CIPHERS[
            header.cipher]
        self.digest_name, self.digest_size, _ = EVP_DIGESTS[header.digest]
        self.key, self.second_key = derive_blob_keys(master, header)
        if header.cipher == b"chacha20-poly1305":
            self.aead = ChaCha20Poly1305(self.key)
        elif self.kind == "aead":
            self.aead = AESGCM(self.key)

    def open_aead(self, index, final, word, frame):
        nonce = (self.second_key + struct.pack(">I", index)
                 + bytes([final]))
        try:
            return self.aead.decrypt(nonce, frame[4:],
                                     self.binding + word)
        except InvalidTag:
            raise AuthError(f"chunk {index} fails AEAD tag "
                            f"verification") from None

    def open_etm(self, index, final, word, frame):
        iv = frame[4:4 + self.iv_length]
        ciphertext = frame[4 + self.iv_length:-self.digest_size]
        mac = frame[-self.digest_size:]
        message = (self.binding + struct.pack(">I", index) + word + iv
                   + ciphertext)
        expected = hmac.new(self.second_key, message,
                            self.digest_name).digest()
        if not hmac.compare_digest(mac, expected):
            raise AuthError(f"chunk {index} fails HMAC verification")
        plain = etm_decrypt(self.header.cipher, self.key, iv, ciphertext)
        if self.block > 1:
            plain = remove_padding(plain, self.block, index)
        return plain

    def decrypt(self, data):
        """Return the plaintext of the chunks that make up data."""
        output = []
        offset = 0
        index = 0
        chunk_size = self.header.chunk_size
        while True:
            if len(data) - offset < 4:
                raise TruncatedError(f"data ends before the word of chunk "
                                     f"{index}, no final chunk seen")
            word = data[offset:offset + 4]
            value = struct.unpack(">I", word)[0]
            final = 1 if value & EVP_FINAL else 0
            plain_length = value & ~EVP_FINAL
            if plain_length > chunk_size:
                raise CorruptError(f"chunk {index} has length "
                                   f"{plain_length} above chunk size "
                                   f"{chunk_size}")
            if not final and plain_length != chunk_size:
                raise CorruptError(f"non-final chunk {index} has length "
                                   f"{plain_length}, not {chunk_size}")
            if not final and index == EVP_MAX_INDEX:
                raise LimitError(f"chunk {index} is not final but is the "
                                 f"last index a blob may have")
            length = chunk_frame_length(self.header, plain_length)
            if len(data) - offset < length:
                raise TruncatedError(f"chunk {index} needs {length} "
                                     f"bytes, {len(data) - offset} remain")
            frame = data[offset:offset + length]
            if self.kind == "aead":
                plain = self.open_aead(index, final, word, frame)
            else:
                plain = self.open_etm(index, final, word, frame)
            if len(plain) != plain_length:
                raise CorruptError(f"chunk {index} decrypts to "
                                   f"{len(plain)} bytes, word says "
                                   f"{plain_length}")
            output.append(plain)
            offset += length
            index += 1
            if final:
                break
        if offset != len(data):
            raise CorruptError(f"{len(data) - offset} bytes follow the "
                               f"final chunk")
        return b"".join(output)


def decrypt_evp(data, keys, kind, blob_id, loader_header, queue_salt=None):
    """Decrypt crypto-evp data bound to a blob's kind, id and header."""
    header = parse_evp_header(data)
    master = find_master(header, keys, queue_salt)
    binding = compute_binding(kind, blob_id, loader_header, header.raw)
    reader = EvpChunkReader(header, master, binding)
    return reader.decrypt(data[len(header.raw):])


def decode_blob(data, kind, blob_id, keys=(), queue_salt=None,
                limit=None):
    """Return the application bytes of a stored blob.

    kind is KIND_MESSAGE or KIND_ENVELOPE and blob_id the message or
    envelope id that the blob is stored under. Raises a FormatError
    subclass on the first failure.
    """
    blob = parse_blob(data)
    if blob.kind != kind:
        raise CorruptError(f"blob header has kind {blob.kind}, expected "
                           f"{kind}")
    if limit is None:
        limit = output_limit(len(data))
    content = blob.body
    for name, version in reversed(blob.layers):
        if version != 1:
            raise UnsupportedError(f"layer {name} has format version "
                                   f"{version}, only 1 is known")
        if name == "crypto-evp":
            content = decrypt_evp(content, keys, kind, blob_id,
                                  blob.header, queue_salt)
        elif name == "compress-zlib":
            content = decompress_zlib(content, limit)
        elif name == "compress-lz4":
            content = decompress_lz4(content, limit)
        else:
            raise UnsupportedError(f"unknown layer {name}")
    if len(content) > limit:
        raise LimitError(f"blob decodes to {len(content)} bytes, above "
                         f"the limit of {limit}")
    return content


def blob_path(queue_dir, kind, blob_id):
    """Return the fs backend's file name of a message or envelope blob."""
    if kind == KIND_MESSAGE:
        if not re.fullmatch(r"[0-9a-f]{16}", blob_id):
            raise ValueError(f"message id {blob_id!r} is not 16 lowercase "
                             f"hex digits")
        return os.path.join(queue_dir, "msg", blob_id[:2], blob_id,
                            "message")
    if not re.fullmatch(r"[0-9a-f]{24}", blob_id):
        raise ValueError(f"envelope id {blob_id!r} is not 24 lowercase "
                         f"hex digits")
    message_id = blob_id[:16]
    return os.path.join(queue_dir, "msg", message_id[:2], message_id,
                        blob_id)


def read_queue_salt(queue_dir):
    """Return the queue salt from QUEUE_DIR/meta, or None without one."""
    try:
        with open(os.path.join(queue_dir, "meta"), "rb") as meta:
            return parse_meta(meta.read())
    except FileNotFoundError:
        return None


def read_blob(queue_dir, kind_name, blob_id, keys):
    """Return the decoded bytes of one blob of an fs queue."""
    kind = KIND_NAMES[kind_name]
    with open(blob_path(queue_dir, kind, blob_id), "rb") as blob_file:
        data = blob_file.read()
    return decode_blob(data, kind, blob_id, keys,
                       read_queue_salt(queue_dir))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Decode one blob of a qstack fs queue, as specified "
                    "by docs/FORMAT.md, to standard output.")
    parser.add_argument("queue_dir", metavar="QUEUE_DIR",
                        help="queue folder (the fs backend's path)")
    parser.add_argument("kind", metavar="KIND", choices=sorted(KIND_NAMES),
                        help="message or envelope")
    parser.add_argument("blob_id", metavar="ID",
                        help="message id, or envelope id for an envelope")
    parser.add_argument("--key-file", action="append", default=[],
                        help="key file: exactly 32 bytes, or 64 hex "
                             "digits and one optional newline, is a raw "
                             "key, anything else a passphrase without "
                             "its trailing newline; may repeat")
    parser.add_argument("--passphrase", action="append", default=[],
                        help="passphrase; may repeat")
    args = parser.parse_args(argv)
    try:
        keys = [load_key_file(path) for path in args.key_file]
        keys += [Key(passphrase=p.encode()) for p in args.passphrase]
        content = read_blob(args.queue_dir, args.kind, args.blob_id, keys)
    except (OSError, ValueError, FormatError) as error:
        print(f"format_reader: {args.kind} {args.blob_id}: {error}",
              file=sys.stderr)
        return 1
    sys.stdout.buffer.write(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
