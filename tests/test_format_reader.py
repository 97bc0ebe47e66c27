#!/usr/bin/env python3
"""Check that tests/format_reader.py reads the blobs that qstack writes.

format_reader.py follows docs/FORMAT.md alone, so every blob it decodes
to the original bytes shows that the page specifies that blob. Each case
puts a message into a new queue with $QSTACK_BUILD/qstack, decodes the
message and envelope blobs with the reader, and compares. Further checks
run the page's worked examples and make sure that the reader rejects
damaged blobs.

Run from the repository top. The last output line is "N passed, N
failed", and the exit status is 1 when a check fails.
"""

import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import format_reader as reader  # noqa: E402

TOP = os.getcwd()
BUILD = os.environ.get("QSTACK_BUILD", os.path.join(TOP, "build"))
QSTACK = os.path.join(BUILD, "qstack")

AEAD_CIPHERS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
                "chacha20-poly1305"]
SIZES = [0, 1, 65535, 65536, 65537, 300000]
RAW_KEY_HEX = ("5ad1c4e6f1b2a3908172635445362718"
               "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
RECIPIENT = "rcpt@example.org"
SENDER = "sender@example.org"

passed = 0
failed = 0


def check(name, condition, detail=""):
    """Count one condition and print a line when it fails."""
    global passed, failed
    if condition:
        passed += 1
        return True
    failed += 1
    print(f"FAIL {name}" + (f": {detail}" if detail else ""))
    return False


def skip(name, reason):
    print(f"skipped {name}: {reason}")


def check_raises(name, error_class, function, *args):
    """Check that function(*args) raises error_class."""
    try:
        function(*args)
    except error_class:
        return check(name, True)
    except reader.FormatError as error:
        return check(name, False, f"raised {type(error).__name__}: "
                                  f"{error}, expected "
                                  f"{error_class.__name__}")
    return check(name, False, f"accepted the input, expected "
                              f"{error_class.__name__}")


def message_bytes(size, seed):
    """Return size bytes: text and random runs, so zlib has work to do."""
    rng = random.Random(seed)
    text = b"Subject: queue test\r\nline of compressible text 0123456789\r\n"
    parts = []
    total = 0
    while total < size:
        if rng.random() < 0.5:
            part = text * rng.randint(1, 40)
        else:
            part = rng.randbytes(rng.randint(1, 9000))
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


class Queue:
    """Temporary fs queue and its qstack configuration file."""

    def __init__(self, root, name, compression=None, encryption=None):
        self.dir = os.path.join(root, name)
        os.mkdir(self.dir)
        self.path = os.path.join(self.dir, "q")
        self.conf = os.path.join(self.dir, "qstack.conf")
        lines = [f'queue backend fs path "{self.path}"']
        if compression is not None:
            lines.append(compression)
        if encryption is not None:
            lines.append(encryption)
        with open(self.conf, "w") as conf:
            conf.write("\n".join(lines) + "\n")

    def run(self, *args, stdin=None):
        return subprocess.run([QSTACK, "-c", self.conf, *args],
                              input=stdin, capture_output=True,
                              timeout=60)

    def put(self, content, sender):
        """Store content with one envelope and return the message id."""
        message_file = os.path.join(self.dir, "message.eml")
        with open(message_file, "wb") as out:
            out.write(content)
        args = ["put"]
        if sender:
            args += ["-f", sender]
        result = self.run(*args, "-r", RECIPIENT, message_file)
        if result.returncode != 0:
            raise RuntimeError(f"qstack put failed: "
                               f"{result.stderr.decode(errors='replace')}")
        return result.stdout.decode().strip()

    def listing(self):
        """Return the objects that `qstack ls --json` prints."""
        result = self.run("ls", "--json")
        if result.returncode != 0:
            raise RuntimeError(f"qstack ls failed: "
                               f"{result.stderr.decode(errors='replace')}")
        return [json.loads(line) for line in result.stdout.splitlines()]

    def envelope_ids(self, message_id):
        folder = os.path.join(self.path, "msg", message_id[:2], message_id)
        return sorted(name for name in os.listdir(folder)
                      if name != "message")

    def read(self, kind, blob_id):
        with open(reader.blob_path(self.path, kind, blob_id), "rb") as blob:
            return blob.read()


def write_key_file(root):
    path = os.path.join(root, "raw.key")
    with open(path, "w") as key_file:
        key_file.write(RAW_KEY_HEX + "\n")
    os.chmod(path, 0o600)
    return path


def parse_envelope(text):
    """Split envelope text into its first line and a key-value dict."""
    lines = text.split("\n")
    fields = {}
    for line in lines[1:]:
        match = re.match(r"(\S+)[ \t]*(.*)\Z", line)
        if match:
            fields[match.group(1)] = match.group(2)
    return lines[0], fields


def check_envelope(name, queue, message_id, size, sender, keys, salt,
                   started, ended):
    """Decode the message's only envelope and compare it with qstack's."""
    envelope_ids = queue.envelope_ids(message_id)
    if not check(f"{name}: one envelope file", len(envelope_ids) == 1,
                 f"found {envelope_ids}"):
        return
    envelope_id = envelope_ids[0]
    check(f"{name}: envelope id extends message id",
          re.fullmatch(message_id + "[0-9a-f]{8}", envelope_id) is not None,
          envelope_id)
    try:
        text = reader.decode_blob(queue.read(reader.KIND_ENVELOPE,
                                             envelope_id),
                                  reader.KIND_ENVELOPE, envelope_id, keys,
                                  salt).decode(errors="replace")
    except reader.FormatError as error:
        check(f"{name}: envelope decodes", False,
              f"{type(error).__name__}: {error}")
        return
    check(f"{name}: envelope ends with newline", text.endswith("\n"))
    first, fields = parse_envelope(text)
    check(f"{name}: envelope version line", first == "qstack-envelope 1",
          repr(first))
    check(f"{name}: envelope recipient",
          fields.get("recipient") == RECIPIENT, repr(fields))
    check(f"{name}: envelope sender", fields.get("sender") == sender,
          repr(fields))
    check(f"{name}: envelope size", fields.get("size") == str(size),
          repr(fields))
    created = fields.get("created", "")
    check(f"{name}: envelope created time",
          created.isdigit() and started - 1 <= int(created) <= ended + 1,
          f"{created!r} not within {started} to {ended}")

    listing = queue.listing()
    entries = [entry for entry in listing if entry["id"] == message_id]
    if not check(f"{name}: ls lists message", len(entries) == 1,
                 repr(listing)):
        return
    listed = entries[0]["envelopes"]
    check(f"{name}: ls envelope matches decoded one",
          listed == [{"id": envelope_id, "recipient": RECIPIENT,
                      "sender": sender}], repr(listed))
    check(f"{name}: ls size", entries[0]["size"] == size,
          repr(entries[0]))


def check_layers(name, data, compression, encryption):
    """Check the layer list and crypto-evp header against the config."""
    blob = reader.parse_blob(data)
    expected = []
    if compression is not None:
        expected.append(("compress-zlib", 1))
    if encryption is not None:
        expected.append(("crypto-evp", 1))
    check(f"{name}: header layers", blob.layers == expected,
          repr(blob.layers))
    if encryption is None:
        return
    evp = reader.parse_evp_header(blob.body)
    cipher = re.search(r"cipher (\S+)", encryption)
    digest = re.search(r"digest (\S+)", encryption)
    check(f"{name}: evp cipher name", evp.cipher.decode()
          == (cipher.group(1) if cipher else "aes-256-gcm"), evp.cipher)
    check(f"{name}: evp digest name", evp.digest.decode()
          == (digest.group(1) if digest else "sha256"), evp.digest)
    check(f"{name}: evp chunk size", evp.chunk_size == 65536,
          str(evp.chunk_size))


def check_command_line(name, queue, message_id, content, key_args):
    """Run format_reader.py as a command and compare its output."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "format_reader.py")
    result = subprocess.run([sys.executable, script, queue.path, "message",
                             message_id, *key_args], capture_output=True,
                            timeout=60)
    check(f"{name}: command exits 0", result.returncode == 0,
          result.stderr.decode(errors="replace"))
    check(f"{name}: command prints message", result.stdout == content,
          f"printed {len(result.stdout)} bytes, expected {len(content)}")
    envelope_id = queue.envelope_ids(message_id)[0]
    result = subprocess.run([sys.executable, script, queue.path,
                             "envelope", envelope_id, *key_args],
                            capture_output=True, timeout=60)
    check(f"{name}: command prints envelope",
          result.stdout.startswith(b"qstack-envelope 1\n"),
          repr(result.stdout[:40]))
    bad_id = message_id[:-1] + ("0" if message_id[-1] != "0" else "1")
    result = subprocess.run([sys.executable, script, queue.path, "message",
                             bad_id, *key_args], capture_output=True,
                            timeout=60)
    check(f"{name}: command fails on unknown id", result.returncode == 1,
          f"exit status {result.returncode}")


def check_ratio_limit(root):
    """Check the reader's output limit against qstack's max-ratio rule."""
    queue = Queue(root, "ratio", "queue compression\nqueue limits "
                  "max-ratio 1")
    content = bytes((1 << 20) + 1000)
    message_id = queue.put(content, SENDER)
    data = queue.read(reader.KIND_MESSAGE, message_id)
    limit = reader.output_limit(len(data), max_ratio=1)
    check("ratio limit: qstack output is within reader limit",
          len(content) <= limit, f"{len(content)} > {limit}")
    check("ratio limit: message decodes under limit",
          reader.decode_blob(data, reader.KIND_MESSAGE, message_id, [],
                             None, limit) == content)
    check_raises("ratio limit: smaller limit is exceeded",
                 reader.LimitError, reader.decode_blob, data,
                 reader.KIND_MESSAGE, message_id, [], None,
                 len(content) - 1)


def run_put_case(root, name, compression, encryption, size, keys,
                 sender=SENDER):
    """Put one message into a new queue and check both decoded blobs."""
    queue = Queue(root, re.sub(r"[^a-z0-9]+", "-", name), compression,
                  encryption)
    content = message_bytes(size, name)
    started = int(time.time())
    message_id = queue.put(content, sender)
    ended = int(time.time())
    if not check(f"{name}: message id is 16 hex digits",
                 re.fullmatch("[0-9a-f]{16}", message_id) is not None,
                 repr(message_id)):
        return None
    with open(os.path.join(queue.path, "meta"), "rb") as meta:
        salt = reader.parse_meta(meta.read())
    check(f"{name}: queue salt is 32 bytes", len(salt) == 32)
    data = queue.read(reader.KIND_MESSAGE, message_id)
    check_layers(name, data, compression, encryption)
    try:
        decoded = reader.decode_blob(data, reader.KIND_MESSAGE, message_id,
                                     keys, salt)
    except reader.FormatError as error:
        check(f"{name}: message decodes", False,
              f"{type(error).__name__}: {error}")
        decoded = None
    if decoded is not None:
        check(f"{name}: message equals original", decoded == content,
              f"decoded {len(decoded)} bytes, original {len(content)}")
    check_envelope(name, queue, message_id, size, sender or "", keys, salt,
                   started, ended)
    return queue, message_id, data, salt


def reframe(blob, body):
    """Return blob's loader header with a new body and a valid trailer."""
    header = blob.header
    head = header + body
    return head + struct.pack(">QI", len(body), zlib.crc32(head))


def check_tampering(name, data, message_id, keys, salt):
    """Check that damaged copies of an encrypted message are rejected."""
    blob = reader.parse_blob(data)
    evp = reader.parse_evp_header(blob.body)
    decode = reader.decode_blob
    kind = reader.KIND_MESSAGE

    flipped = bytearray(data)
    flipped[len(blob.header) + len(evp.raw) + 6] ^= 0x01
    check_raises(f"{name}: flipped body byte fails CRC",
                 reader.CorruptError, decode, bytes(flipped), kind,
                 message_id, keys, salt)

    body = bytearray(blob.body)
    body[len(evp.raw) + 6] ^= 0x01
    check_raises(f"{name}: flipped byte with fixed CRC fails auth",
                 reader.AuthError, decode, reframe(blob, bytes(body)),
                 kind, message_id, keys, salt)

    body = bytearray(blob.body)
    body[18] ^= 0x01
    check_raises(f"{name}: changed blob salt fails auth",
                 reader.AuthError, decode, reframe(blob, bytes(body)),
                 kind, message_id, keys, salt)

    check_raises(f"{name}: cut blob end is truncated",
                 reader.TruncatedError, decode, data[:-1], kind,
                 message_id, keys, salt)
    check_raises(f"{name}: blob shorter than trailer is truncated",
                 reader.TruncatedError, decode, data[:len(blob.header) + 5],
                 kind, message_id, keys, salt)
    check_raises(f"{name}: cut chunk with fixed CRC is truncated",
                 reader.TruncatedError, decode,
                 reframe(blob, blob.body[:-1]), kind, message_id, keys,
                 salt)
    first_chunk = len(evp.raw) + reader.chunk_frame_length(
        evp, evp.chunk_size)
    check_raises(f"{name}: blob cut after chunk 0 is truncated",
                 reader.TruncatedError, decode,
                 reframe(blob, blob.body[:first_chunk]), kind, message_id,
                 keys, salt)
    check_raises(f"{name}: byte after final chunk is corrupt",
                 reader.CorruptError, decode,
                 reframe(blob, blob.body + b"\0"), kind, message_id, keys,
                 salt)

    other_id = ("0" if message_id[0] != "0" else "1") + message_id[1:]
    check_raises(f"{name}: blob under another id fails auth",
                 reader.AuthError, decode, data, kind, other_id, keys, salt)
    header = bytearray(blob.header)
    header[5] = reader.KIND_ENVELOPE
    moved = reader.Blob(reader.KIND_ENVELOPE, bytes(header), blob.layers,
                        blob.body)
    check_raises(f"{name}: blob read as envelope fails auth",
                 reader.AuthError, decode, reframe(moved, blob.body),
                 reader.KIND_ENVELOPE, message_id + "00000000", keys, salt)
    check_raises(f"{name}: blob under wrong key has no key",
                 reader.NoKeyError, decode, data, kind, message_id,
                 [reader.Key(raw=bytes(32))], salt)
    check_random_damage(name, data, message_id, keys, salt)


def check_random_damage(name, data, message_id, keys, salt):
    """Check that random byte changes, with a valid trailer, are rejected.

    The reader must raise a FormatError for each copy, and nothing else.
    """
    rng = random.Random(name)
    unexpected = []
    for _ in range(300):
        head = bytearray(data[:-reader.FRAME_TRAILER])
        for _ in range(rng.randint(1, 3)):
            head[rng.randrange(len(head))] = rng.randrange(256)
        if rng.random() < 0.3:
            head = head[:rng.randrange(len(head))]
        header_length = int.from_bytes(head[6:8], "big")
        body_length = max(0, len(head) - header_length)
        damaged = bytes(head) + struct.pack(">QI", body_length,
                                            zlib.crc32(head))
        if damaged == data:
            continue
        try:
            reader.decode_blob(damaged, reader.KIND_MESSAGE, message_id,
                               keys, salt)
            unexpected.append("accepted")
        except reader.FormatError:
            pass
        except Exception as error:  # a crash is what this check looks for
            unexpected.append(f"{type(error).__name__}: {error}")
    check(f"{name}: random damage rejected", not unexpected,
          f"{len(unexpected)} copies, first: {unexpected[:1]}")


def unhex(text):
    return bytes.fromhex("".join(text.split()))


def check_spec_examples():
    """Decode the worked examples and check the values FORMAT.md gives."""
    framed = unhex("51 53 54 4b 01 02 00 09 00 68 65 6c 6c 6f"
                   "00 00 00 00 00 00 00 05 b1 75 a0 bb")
    envelope_id = "00112233445566778899aabb"
    check("spec framing example decodes",
          reader.decode_blob(framed, reader.KIND_ENVELOPE, envelope_id)
          == b"hello")
    header = unhex("51 53 54 4b 01 02 00 25 02"
                   "0c 63 6f 6d 70 72 65 73 73 2d 6c 7a 34 00 01"
                   "0a 63 72 79 70 74 6f 2d 65 76 70 00 01")
    check("spec layer header example parses",
          reader.parse_layers(header, 2)
          == [("compress-lz4", 1), ("crypto-evp", 1)])
    check("spec empty zlib blob decodes",
          reader.decompress_zlib(unhex("78 9c 03 00 00 00 00 01"), 10)
          == b"")
    check("spec empty lz4 header passes checks",
          reader.check_lz4_header(unhex("04 22 4d 18 54 40 ae 00 00 00 00"
                                        "05 5d cc 02")) is None)

    key = [reader.Key(raw=bytes(range(32)))]
    loader_header = unhex("51534c4401000000")
    plaintext = b"hello, queue\n"
    example_1 = unhex("""
        5145565001450001000079db9940d7cac7eb202122232425262728292a2b2c2d
        2e2f303132333435363738393a3b3c3d3e3f0b6165732d3235362d67636d0673
        68613235368000000dbdf636021a191849bcfafda7059525f64869b2b704aec8
        b3faa3226bdb""")
    example_2 = unhex("""
        5145565001450001000093de0d915da43831202122232425262728292a2b2c2d
        2e2f303132333435363738393a3b3c3d3e3f0b6165732d3132382d6362630673
        68613531328000000d606162636465666768696a6b6c6d6e6fa666e0c04caa02
        a72f080c7b0d4152f251ae912ba7725dfb3479834daaa55d5dc554c66b6bec63
        1e629c223505ccaf5af72b41314e8e5279fec15bcc5675bfc44b6f6c182c87ac
        eda40a319dd60c8f5a""")
    for label, blob, binding in [
            ("example 1", example_1, "ce90b96495514a5b7f47d5826d535c5d"
                                     "b23daf4c7965f18833190a22fc337b60"),
            ("example 2", example_2, "ba0f9eee4dd052d789d2bace8187ddc2"
                                     "efe5bce91b51d9c4344f10603b04e24c")]:
        evp = reader.parse_evp_header(blob)
        check(f"spec {label} binding",
              reader.compute_binding(1, "5f2a9c01", loader_header,
                                     evp.raw).hex() == binding)
        check(f"spec {label} decrypts",
              reader.decrypt_evp(blob, key, 1, "5f2a9c01", loader_header)
              == plaintext)
    master = reader.Key(passphrase=b"correct horse battery staple").master(
        b"sha256", bytes(range(0x40, 0x60)))
    check("spec passphrase example master key", master.hex()
          == "3adb51054d5d2798bce6e3000146821b"
             "a999941d88d96dd27da0dbaa0900280a")
    check("spec passphrase example key id",
          reader.key_id(master, b"sha256").hex() == "f8694f28ff394db2")


def check_lz4(root, key_file, keys):
    """Check the lz4 frame header, and decode when lz4 is installed."""
    queue = Queue(root, "lz4", "queue compression lz4",
                  f'queue encryption key-file "{key_file}"')
    content = message_bytes(65537, "lz4")
    message_id = queue.put(content, SENDER)
    blob = reader.parse_blob(queue.read(reader.KIND_MESSAGE, message_id))
    check("lz4: layers", blob.layers == [("compress-lz4", 1),
                                         ("crypto-evp", 1)],
          repr(blob.layers))
    frame = reader.decrypt_evp(blob.body, keys, reader.KIND_MESSAGE,
                               message_id, blob.header)
    check("lz4: frame header as FORMAT.md gives it",
          frame[:7] == unhex("04 22 4d 18 54 40 ae"), frame[:7].hex())
    if reader.lz4_frame is None:
        skip("lz4: message decodes",
             "Python module lz4.frame is not installed")
        return
    check("lz4: message equals original",
          reader.decompress_lz4(frame, 1 << 30) == content)


def guarded(name, function, *args):
    """Run one case, and count an unexpected exception as its failure."""
    try:
        return function(*args)
    except Exception as error:  # any crash of a case is a test failure
        check(f"{name}: runs without error", False,
              f"{type(error).__name__}: {error}")
        return None


def run_all(root):
    key_file = write_key_file(root)
    keys = [reader.load_key_file(key_file)]
    check("key file gives a raw key", keys[0].raw == bytes.fromhex(
        RAW_KEY_HEX))
    guarded("spec examples", check_spec_examples)

    for cipher in AEAD_CIPHERS:
        encryption = f'queue encryption key-file "{key_file}" cipher {cipher}'
        for compression in [None, "queue compression"]:
            for size in SIZES:
                label = "zlib" if compression else "none"
                name = f"{cipher} {label} {size}"
                sender = SENDER if size else None
                result = guarded(name, run_put_case, root, name,
                                 compression, encryption, size, keys,
                                 sender)
                if result and size == 300000 and compression is None:
                    queue, message_id, data, salt = result
                    guarded(name, check_tampering, name, data, message_id,
                            keys, salt)
                    guarded(name, check_command_line, name, queue,
                            message_id, message_bytes(size, name),
                            ["--key-file", key_file])

    for size in [0, 65536, 300000]:
        name = f"aes-128-cbc sha512 zlib {size}"
        result = guarded(name, run_put_case, root, name, "queue compression",
                         f'queue encryption key-file "{key_file}" '
                         f'cipher aes-128-cbc digest sha512', size, keys)
        if result and size == 300000:
            _, message_id, data, salt = result
            guarded(name, check_tampering, name, data, message_id, keys,
                    salt)
    name = "passphrase default cipher 65537"
    result = guarded(name, run_put_case, root, name, None,
                     'queue encryption key "foobar"', 65537,
                     [reader.Key(passphrase=b"foobar")])
    if result:
        queue, message_id, _, _ = result
        guarded(name, check_command_line, name, queue, message_id,
                message_bytes(65537, name), ["--passphrase", "foobar"])
    for name, compression in [("no layers 65537", None),
                              ("zlib only 65537", "queue compression")]:
        guarded(name, run_put_case, root, name, compression, None, 65537,
                [])
    guarded("lz4", check_lz4, root, key_file, keys)
    guarded("ratio limit", check_ratio_limit, root)


def main():
    if not os.access(QSTACK, os.X_OK):
        print(f"qstack not found at {QSTACK}: build it with make, or set "
              f"QSTACK_BUILD to the build folder")
        print("0 passed, 1 failed")
        return 1
    root = tempfile.mkdtemp(prefix="qstack-format-")
    try:
        run_all(root)
    except (OSError, RuntimeError, subprocess.SubprocessError,
            reader.FormatError) as error:
        check("test run completes", False, f"{type(error).__name__}: "
                                           f"{error}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
