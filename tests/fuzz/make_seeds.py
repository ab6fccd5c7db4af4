#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/).

The seeds are committed; this script says how each was made, by hand from
the file formats, so that they are small, valid and free of anyone else's
data. Run it again after a format changes. libFuzzer adds what it finds to
its own working corpus, not to these folders.
"""

import json
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
EXAMPLES = HERE.parent.parent / "examples" / "sweeps"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# --- protobuf wire format, just enough for the seeds ------------------------
def varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def field_float(number, value):
    return varint((number << 3) | 5) + struct.pack("<f", value)


def field_double(number, value):
    return varint((number << 3) | 1) + struct.pack("<d", value)


def sweeps():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        write("sweep", path.name, path.read_bytes())
    write("sweep", "anchors.yaml", "name: a\ndefaults: &d {max_attempts: 2}\nstages:\n"
          "  - {name: s, kind: sleep, grid: {seconds: [0.1, 0.2]}, group_by: [seconds]}\n"
          "  - {name: t, kind: noop, depends_on: s, grid: {seconds: [0.1]}}\n")
    write("sweep", "grids.yaml", "name: g\nstages:\n  - name: s\n    kind: noop\n    grids:\n"
          "      - {a: [1, 2], b: [x]}\n      - {a: [3], b: [y, z]}\n")


def midi():
    def track(events):
        return b"MTrk" + struct.pack(">I", len(events)) + events

    tempo = b"\x00\xff\x51\x03\x07\xa1\x20" + b"\x00\xff\x58\x04\x04\x02\x18\x08" + b"\x00\xff\x2f\x00"
    notes = bytearray()
    for i, pitch in enumerate([60, 64, 67, 72]):
        notes += (b"\x00" if i == 0 else b"\x00") + bytes([0x90, pitch, 80])
        notes += varint_midi(240) + bytes([0x80, pitch, 0])
    notes += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 1, 2, 480)
    write("midi", "two_tracks.mid", header + track(tempo) + track(bytes(notes)))
    single = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + track(b"\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xff\x2f\x00")
    write("midi", "format0.mid", single)


def varint_midi(value):
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.insert(0, (value & 0x7F) | 0x80)
        value >>= 7
    return bytes(out)


def safetensors():
    header = {
        "__metadata__": {"format": "pt", "tokenizer_identity": "0" * 64},
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    data = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25) + b"\x80\x3f\x00\x40\x40\x40"
    write("safetensors", "two_tensors.safetensors", struct.pack("<Q", len(text)) + text + data)


def llama_config():
    write("llama_config", "config.json", json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
        "vocab_size": 300, "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}, indent=1))


def tokenizer_json():
    vocab = [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0], ["\u2581", -2.0], ["a", -3.0], ["b", -3.0],
             ["ab", -2.5], ["\u2581a", -4.0], ["\u3053\u3093", -2.0]]
    vocab += [["<0x%02X>" % byte, 0.0] for byte in range(256)]
    special = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    write("tokenizer_json", "tiny.json", json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": True, "vocab": vocab}}, ensure_ascii=False))


def sentencepiece_model():
    # ModelProto: pieces = 1 (piece = 1, score = 2, type = 3), trainer_spec =
    # 2 (model_type = 3, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43,
    # byte_fallback = 35), normalizer_spec = 3 (name = 1,
    # add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5).
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("\u2581", -2.0, 1), ("a", -3.0, 1),
              ("\u2581a", -2.5, 1), ("<0x41>", 0.0, 6)]
    model = b"".join(field_bytes(1, field_bytes(1, p) + field_float(2, s) + field_varint(3, t)) for p, s, t in pieces)
    model += field_bytes(2, field_varint(3, 1) + field_varint(35, 1) + field_varint(40, 0) + field_varint(41, 1) +
                         field_varint(42, 2) + field_varint(43, (1 << 64) - 1))
    model += field_bytes(3, field_bytes(1, "identity") + field_varint(3, 1) + field_varint(4, 1) + field_varint(5, 1))
    write("sentencepiece_model", "tiny.model", model)


def lm_corpus():
    # corpus.bin version 2 without its trailing CRC-32 (the harness appends
    # the right one). 3 documents: train (en), valid (ja), test (en); one
    # window each of BOS + 4 tokens, 4-byte ids.
    window = 5
    docs = [(0, 0, b"doc-en", b"English"), (1, 1, b"doc-ja", "\u65e5\u672c".encode()), (0, 2, b"doc-en-2", b"Test")]
    out = bytearray(b"EXLMCORP")
    out += struct.pack("<IIIII", 2, 4, 16, 1, window)
    out += struct.pack("<I", 2)
    out += struct.pack("<Q", 7)
    out += struct.pack("<QQQ", 1, 1, 1)
    out += struct.pack("<II", len(docs), 0)
    out += struct.pack("<I", 0)  # no tokenizer identity
    for language, split, key, title in docs:
        out += struct.pack("<BBHI", language, split, 0, len(key)) + key + struct.pack("<I", len(title)) + title
    for index, (language, split, _, _) in enumerate(docs):
        out += struct.pack("<BBHI", language, split, 0, index)
    out += b"\0" * (-len(out) % 8)
    for index in range(len(docs)):
        out += struct.pack("<5I", 1, 2 + index, 3, 4, 5)
    write("lm_corpus", "three_windows.bin", bytes(out))
    # A whole file as the writer makes it, for the raw path.
    write("lm_corpus", "three_windows_with_crc.bin", bytes(out) + struct.pack("<I", zlib.crc32(bytes(out))))


def music_cache():
    # The payload (the harness adds header and checksum): key, no skipped
    # songs, one song of 16 bars of one note each, one training window.
    def string(text):
        data = text.encode()
        return struct.pack("<I", len(data)) + data

    payload = string("fuzz-key") + struct.pack("<II", 0, 0) + struct.pack("<I", 1) + string("001") + struct.pack("<I", 16)
    for bar in range(16):
        payload += struct.pack("<I", 1) + struct.pack("<BBBI", bar % 3, 60 + bar, (bar * 2) % 16, 4)
    payload += struct.pack("<IqI", 1, 1, 1) + struct.pack("<II", 0, 0)  # train: 1 song, 1 window
    payload += struct.pack("<IqI", 0, 0, 0)  # valid
    payload += struct.pack("<IqI", 0, 0, 0)  # test
    write("music_cache", "one_song.bin", payload)


def scheduler_requests():
    # First byte: the RPC (scheduler_requests_fuzzer.cc), then the request.
    lease = field_varint(1, 1) + field_varint(2, 1)
    seeds = {
        "submit": bytes([0]) + field_bytes(1, "name: f\nstages:\n  - {name: a, kind: noop, grid: {i: [1, 2]}}\n") +
        field_bytes(2, "f.yaml"),
        "get_sweep": bytes([1]) + field_varint(1, 1),
        "list_jobs": bytes([4]) + field_varint(1, 1) + field_varint(5, 10),
        "retry_sweep": bytes([7]) + field_varint(2, 1) + field_bytes(3, "a"),
        "lease": bytes([11]) + field_bytes(1, "w-000000000000") + field_bytes(2, field_varint(1, 4)) +
        field_varint(3, 2),
        "heartbeat": bytes([12]) + field_bytes(1, "w-000000000000") + field_bytes(2, lease),
        "metrics": bytes([13]) + field_bytes(1, lease) +
        field_bytes(2, field_bytes(1, "loss") + field_varint(2, 3) + field_double(3, 0.5)),
        "logs": bytes([14]) + field_bytes(1, lease) + field_bytes(2, "a line"),
        "complete": bytes([15]) + field_bytes(1, "w-000000000000") + field_bytes(2, field_bytes(1, lease)),
        "upload": bytes([17]) + field_bytes(1, field_bytes(1, lease) + field_bytes(2, "ckpt.json") +
                                            field_varint(3, 2) + field_bytes(4, "0" * 64)),
        "query": bytes([18]) + field_varint(1, 1) + field_bytes(3, "loss"),
    }
    for name, data in seeds.items():
        write("scheduler_requests", name + ".bin", data)


if __name__ == "__main__":
    sweeps()
    midi()
    safetensors()
    llama_config()
    tokenizer_json()
    sentencepiece_model()
    lm_corpus()
    music_cache()
    scheduler_requests()
