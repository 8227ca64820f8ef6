/*
 * Recognising files by their first bytes (file_kind.h). Every test here is on magic numbers
 * or on a structure that must hold exactly (ONNX's protobuf fields), never on the file name.
 */
#include "core/file_kind.h"

#include "model/safetensors.h"

#include <string.h>

/* How far into the data the text searches look (JSON keys, ZIP entry names). */
#define FILE_KIND_SCAN_BYTES ((size_t)64 << 10)

static bool starts_with(const unsigned char *bytes, size_t size, const void *magic, size_t length)
{
    return size >= length && memcmp(bytes, magic, length) == 0;
}

/* True when `needle` occurs in bytes[0..size). */
static bool contains(const unsigned char *bytes, size_t size, const char *needle)
{
    size_t length = strlen(needle);
    for (size_t i = 0; length <= size && i <= size - length; i++)
        if (bytes[i] == (unsigned char)needle[0] && memcmp(bytes + i, needle, length) == 0)
            return true;
    return false;
}

static uint64_t read_u64_le(const unsigned char *bytes)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = value << 8 | bytes[i];
    return value;
}

/* A safetensors file starts with its JSON header's length (little-endian) and then '{'. */
static file_kind safetensors_kind(const unsigned char *bytes, size_t size)
{
    if (size < 9 || bytes[8] != '{') return FILE_KIND_UNKNOWN;
    uint64_t header = read_u64_le(bytes);
    if (header < 2 || header > ST_MAX_HEADER_BYTES) return FILE_KIND_UNKNOWN;
    return header > size - 8 ? FILE_KIND_SAFETENSORS_TRUNCATED : FILE_KIND_SAFETENSORS;
}

/* BMP: "BM", then (at 14) the size of a known DIB header, so that text starting "BM" is not one. */
static bool is_bmp(const unsigned char *bytes, size_t size)
{
    if (!starts_with(bytes, size, "BM", 2) || size < 18) return false;
    uint32_t dib = (uint32_t)bytes[14] | (uint32_t)bytes[15] << 8 | (uint32_t)bytes[16] << 16 |
                   (uint32_t)bytes[17] << 24;
    return dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 ||
           dib == 124;
}

/* HEIC / AVIF: an ISO-BMFF 'ftyp' box whose major brand is an image one. */
static bool is_heif(const unsigned char *bytes, size_t size)
{
    static const char *const brands[] = {"heic", "heix", "heim", "heis", "hevc",
                                         "mif1", "msf1", "avif", "avis"};
    if (size < 12 || memcmp(bytes + 4, "ftyp", 4) != 0) return false;
    for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
        if (memcmp(bytes + 8, brands[i], 4) == 0) return true;
    return false;
}

/* A ZIP written by torch.save holds ARCHIVE/data.pkl, first in the archive and in its
 * central directory at the end. */
static file_kind zip_kind(const unsigned char *bytes, size_t size)
{
    if (size >= 30) {
        size_t name_length = (size_t)bytes[26] | (size_t)bytes[27] << 8;
        const unsigned char *name = bytes + 30;
        if (name_length <= size - 30 && name_length >= 8 &&
            memcmp(name + name_length - 8, "data.pkl", 8) == 0)
            return FILE_KIND_PYTORCH_ZIP;
    }
    size_t tail = size < FILE_KIND_SCAN_BYTES ? size : FILE_KIND_SCAN_BYTES;
    if (contains(bytes + size - tail, tail, "/data.pkl")) return FILE_KIND_PYTORCH_ZIP;
    return FILE_KIND_ZIP;
}

/* Pickle protocol 2: PROTO 2, then LONG1 of 10 bytes holding torch's magic number
 * 0x1950a86a20f9469cfc6c (torch/serialization.py), little-endian. */
static bool is_pytorch_pickle(const unsigned char *bytes, size_t size)
{
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                          0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    return starts_with(bytes, size, magic, sizeof magic);
}

/* A protobuf varint at *pos; false when it runs past the end or over 10 bytes. */
static bool read_varint(const unsigned char *bytes, size_t size, size_t *pos, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= size) return false;
        unsigned char byte = bytes[(*pos)++];
        *value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return true;
    }
    return false;
}

/*
 * ONNX is a protobuf ModelProto, which has no magic number; what identifies it is that the
 * whole file parses as one: it starts with ir_version (field 1, a small varint, as every
 * exporter writes it), every top-level field is one of ModelProto's with its wire type, the
 * lengths tile the file exactly and a graph (field 7) is present. A file cut short is still
 * recognised when it got as far as ir_version and a producer name or graph.
 */
static bool is_onnx(const unsigned char *bytes, size_t size)
{
    size_t pos = 0;
    uint64_t tag, value;
    if (size < 2 || bytes[0] != 0x08) return false;
    pos = 1;
    if (!read_varint(bytes, size, &pos, &value) || value < 1 || value > 64) return false;
    bool graph = false, producer = false;
    while (pos < size) {
        if (!read_varint(bytes, size, &pos, &tag)) return producer || graph;
        uint64_t field = tag >> 3, wire = tag & 7;
        if (wire == 0) {
            if (field != 1 && field != 5) return false; /* ir_version, model_version */
            if (!read_varint(bytes, size, &pos, &value)) return producer || graph;
        } else if (wire == 2) {
            /* producer_name, producer_version, domain, doc_string, graph, opset_import,
             * metadata_props, training_info, functions, configuration */
            if (!(field == 2 || field == 3 || field == 4 || field == 6 || field == 7 ||
                  field == 8 || field == 14 || field == 20 || field == 25 || field == 26))
                return false;
            if (!read_varint(bytes, size, &pos, &value)) return producer || graph;
            if (field == 2) producer = true;
            if (field == 7) graph = true;
            if (value > size - pos) return producer || graph; /* cut short */
            pos += (size_t)value;
        } else {
            return false;
        }
    }
    return graph;
}

/* JSON: after an optional UTF-8 byte order mark and white space, '{' or '['. */
static file_kind json_kind(const unsigned char *bytes, size_t size)
{
    size_t pos = starts_with(bytes, size, "\xef\xbb\xbf", 3) ? 3 : 0;
    while (pos < size &&
           (bytes[pos] == ' ' || bytes[pos] == '\t' || bytes[pos] == '\n' || bytes[pos] == '\r'))
        pos++;
    if (pos >= size || (bytes[pos] != '{' && bytes[pos] != '[')) return FILE_KIND_UNKNOWN;
    size_t scan = size < FILE_KIND_SCAN_BYTES ? size : FILE_KIND_SCAN_BYTES;
    if (contains(bytes, scan, "\"weightsManifest\"") || contains(bytes, scan, "\"modelTopology\""))
        return FILE_KIND_TFJS_MODEL;
    if (contains(bytes, scan, "\"filename\"") && contains(bytes, scan, "\"shape\""))
        return FILE_KIND_ML5_MANIFEST;
    return FILE_KIND_JSON;
}

file_kind style__file_kind(const void *data, size_t size)
{
    const unsigned char *bytes = data;
    if (size == 0 || !data) return FILE_KIND_EMPTY;
    file_kind kind = safetensors_kind(bytes, size);
    if (kind != FILE_KIND_UNKNOWN) return kind;
    if (starts_with(bytes, size, "\x89PNG\r\n\x1a\n", 8)) return FILE_KIND_PNG;
    if (starts_with(bytes, size, "\xff\xd8\xff", 3)) return FILE_KIND_JPEG;
    if (size >= 12 && memcmp(bytes, "RIFF", 4) == 0 && memcmp(bytes + 8, "WEBP", 4) == 0)
        return FILE_KIND_WEBP;
    if (starts_with(bytes, size, "GIF87a", 6) || starts_with(bytes, size, "GIF89a", 6))
        return FILE_KIND_GIF;
    if (is_bmp(bytes, size)) return FILE_KIND_BMP;
    if (starts_with(bytes, size, "II*\0", 4) || starts_with(bytes, size, "MM\0*", 4))
        return FILE_KIND_TIFF;
    if (is_heif(bytes, size)) return FILE_KIND_HEIF;
    if (starts_with(bytes, size, "PK\x03\x04", 4)) return zip_kind(bytes, size);
    if (is_pytorch_pickle(bytes, size)) return FILE_KIND_PYTORCH_PICKLE;
    if (size >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return FILE_KIND_PICKLE;
    if (starts_with(bytes, size, "GGUF", 4)) return FILE_KIND_GGUF;
    if (starts_with(bytes, size, "\x89HDF\r\n\x1a\n", 8)) return FILE_KIND_HDF5;
    if (size >= 8 && memcmp(bytes + 4, "TFL3", 4) == 0) return FILE_KIND_TFLITE;
    if (starts_with(bytes, size, "\x93NUMPY", 6)) return FILE_KIND_NUMPY;
    if (is_onnx(bytes, size)) return FILE_KIND_ONNX;
    return json_kind(bytes, size);
}

const char *style__file_kind_description(file_kind kind)
{
    switch (kind) {
    case FILE_KIND_UNKNOWN:
        return "a file of unknown format";
    case FILE_KIND_EMPTY:
        return "an empty file (0 bytes)";
    case FILE_KIND_SAFETENSORS:
        return "a safetensors file";
    case FILE_KIND_SAFETENSORS_TRUNCATED:
        return "a truncated safetensors file";
    case FILE_KIND_PNG:
        return "a PNG image";
    case FILE_KIND_JPEG:
        return "a JPEG image";
    case FILE_KIND_WEBP:
        return "a WebP image";
    case FILE_KIND_GIF:
        return "a GIF image";
    case FILE_KIND_BMP:
        return "a BMP image";
    case FILE_KIND_TIFF:
        return "a TIFF image";
    case FILE_KIND_HEIF:
        return "a HEIF/AVIF image";
    case FILE_KIND_PYTORCH_ZIP:
        return "a PyTorch file (torch.save, ZIP format)";
    case FILE_KIND_PYTORCH_PICKLE:
        return "a PyTorch file (torch.save, legacy pickle format)";
    case FILE_KIND_PICKLE:
        return "a Python pickle";
    case FILE_KIND_ZIP:
        return "a ZIP archive";
    case FILE_KIND_ONNX:
        return "an ONNX model";
    case FILE_KIND_TFJS_MODEL:
        return "a TensorFlow.js model (model.json)";
    case FILE_KIND_ML5_MANIFEST:
        return "an ml5 / deeplearn.js checkpoint manifest (JSON)";
    case FILE_KIND_JSON:
        return "a JSON text";
    case FILE_KIND_GGUF:
        return "a GGUF file (llama.cpp / ggml)";
    case FILE_KIND_HDF5:
        return "an HDF5 file (Keras .h5?)";
    case FILE_KIND_TFLITE:
        return "a TensorFlow Lite model";
    case FILE_KIND_NUMPY:
        return "a NumPy array (.npy)";
    }
    return "a file of unknown format";
}

static bool is_image(file_kind kind)
{
    return kind == FILE_KIND_PNG || kind == FILE_KIND_JPEG || kind == FILE_KIND_WEBP ||
           kind == FILE_KIND_GIF || kind == FILE_KIND_BMP || kind == FILE_KIND_TIFF ||
           kind == FILE_KIND_HEIF;
}

static const char *role_noun(file_role role)
{
    switch (role) {
    case FILE_ROLE_MODEL:
        return "a style model";
    case FILE_ROLE_LOSS_NET:
        return "a loss network";
    case FILE_ROLE_CHECKPOINT:
        return "a libstyle training checkpoint";
    case FILE_ROLE_IMAGE:
        return "an image";
    }
    return "";
}

/* What to do with a file of `kind` handed to a loader of safetensors files in `role`. */
static const char *advice(file_kind kind, file_role role)
{
    if (kind == FILE_KIND_EMPTY || kind == FILE_KIND_SAFETENSORS_TRUNCATED)
        return "an interrupted download or copy? Fetch or copy the file again";
    if (role == FILE_ROLE_CHECKPOINT)
        return "--resume takes the checkpoint file that 'libstyle train' wrote";
    if (is_image(kind))
        return role == FILE_ROLE_MODEL
                   ? "models are .safetensors files; the image is the input: "
                     "libstyle stylize --model MODEL.safetensors IMAGE OUTPUT"
                   : "the loss network is a .safetensors feature network such as a torchvision "
                     "VGG-16 (docs/training.md); images go in with --style-image";
    switch (kind) {
    case FILE_KIND_PYTORCH_ZIP:
    case FILE_KIND_PYTORCH_PICKLE:
    case FILE_KIND_PICKLE:
        return role == FILE_ROLE_MODEL
                   ? "convert it with 'python3 -m libstyle.convert from-pytorch IN.pth "
                     "OUT.safetensors' (docs/convert.md)"
                   : "convert a VGG state_dict with 'python3 -m libstyle.convert "
                     "lossnet-from-pytorch IN.pth OUT.safetensors' (docs/convert.md)";
    case FILE_KIND_ONNX:
        return role == FILE_ROLE_MODEL
                   ? "convert it with 'python3 -m libstyle.convert from-onnx IN.onnx "
                     "OUT.safetensors' (docs/convert.md)"
                   : "export the network's PyTorch state_dict and convert it with "
                     "'python3 -m libstyle.convert lossnet-from-pytorch IN.pth OUT.safetensors'";
    case FILE_KIND_ML5_MANIFEST:
        return "import the checkpoint's folder with 'libstyle import-ml5 DIR OUT.safetensors'";
    case FILE_KIND_TFJS_MODEL:
        return "libstyle reads safetensors; an ml5 style-transfer checkpoint (manifest.json and "
               "its weight files) imports with 'libstyle import-ml5 DIR OUT.safetensors'";
    default:
        return "libstyle reads .safetensors files (docs/formats.md; converters in "
               "docs/convert.md)";
    }
}

style_status style__file_kind_check(const void *data, size_t size, file_role role)
{
    file_kind kind = style__file_kind(data, size);
    const char *what = style__file_kind_description(kind);
    if (kind == FILE_KIND_UNKNOWN) return STYLE_OK;
    if (role == FILE_ROLE_IMAGE) {
        if (kind == FILE_KIND_PNG || kind == FILE_KIND_JPEG || kind == FILE_KIND_WEBP)
            return STYLE_OK;
        if (kind == FILE_KIND_EMPTY)
            return style__fail(STYLE_ERR_FORMAT, "empty file (0 bytes), not an image");
        if (is_image(kind))
            return style__fail(STYLE_ERR_UNSUPPORTED,
                               "this is %s, which libstyle does not decode (PNG, JPEG and WebP "
                               "are supported: convert it to one of them)",
                               what);
        if (kind == FILE_KIND_SAFETENSORS || kind == FILE_KIND_SAFETENSORS_TRUNCATED)
            return style__fail(STYLE_ERR_FORMAT,
                               "this is %s (a model or network), not an image (models go in "
                               "with --model); images are PNG, JPEG or WebP",
                               what);
        return style__fail(STYLE_ERR_FORMAT,
                           "this is %s, not an image (PNG, JPEG or WebP are expected)", what);
    }
    if (kind == FILE_KIND_SAFETENSORS) return STYLE_OK;
    if (kind == FILE_KIND_SAFETENSORS_TRUNCATED)
        return style__fail(STYLE_ERR_FORMAT,
                           "this is %s: its header says %llu bytes of JSON but the file has "
                           "%zu bytes (%s)",
                           what, (unsigned long long)read_u64_le(data), size, advice(kind, role));
    if (kind == FILE_KIND_EMPTY)
        return style__fail(STYLE_ERR_FORMAT, "this is %s, not %s (%s)", what, role_noun(role),
                           advice(kind, role));
    return style__fail(STYLE_ERR_FORMAT, "this is %s, not %s: %s", what, role_noun(role),
                       advice(kind, role));
}
