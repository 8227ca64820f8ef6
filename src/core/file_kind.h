/*
 * What a file is, from its first bytes: the image formats, the model formats people have
 * (PyTorch, ONNX, TensorFlow.js / ml5, GGUF, ...) and safetensors, so that a loader handed
 * the wrong kind of file can say what it got and what to do instead of reporting a
 * meaningless header length.
 */
#ifndef STYLE_FILE_KIND_H
#define STYLE_FILE_KIND_H

#include "core/common.h"

typedef enum file_kind {
    FILE_KIND_UNKNOWN,
    FILE_KIND_EMPTY,
    FILE_KIND_SAFETENSORS,
    FILE_KIND_SAFETENSORS_TRUNCATED, /* a safetensors header that runs past the end */
    FILE_KIND_PNG,
    FILE_KIND_JPEG,
    FILE_KIND_WEBP,
    FILE_KIND_GIF,
    FILE_KIND_BMP,
    FILE_KIND_TIFF,
    FILE_KIND_HEIF,           /* HEIC or AVIF (an ISO-BMFF 'ftyp' box with an image brand) */
    FILE_KIND_PYTORCH_ZIP,    /* torch.save since PyTorch 1.6: a ZIP holding .../data.pkl */
    FILE_KIND_PYTORCH_PICKLE, /* torch.save's legacy format: a pickle with torch's magic number */
    FILE_KIND_PICKLE,         /* another Python pickle */
    FILE_KIND_ZIP,
    FILE_KIND_ONNX,
    FILE_KIND_TFJS_MODEL,   /* TensorFlow.js model.json (modelTopology / weightsManifest) */
    FILE_KIND_ML5_MANIFEST, /* an ml5 / deeplearn.js checkpoint's manifest.json */
    FILE_KIND_JSON,
    FILE_KIND_GGUF,
    FILE_KIND_HDF5,
    FILE_KIND_TFLITE,
    FILE_KIND_NUMPY,
} file_kind;

/* What a loader expects, which decides what counts as wrong and what to advise. */
typedef enum file_role {
    FILE_ROLE_MODEL,      /* a style model (style_model_load) */
    FILE_ROLE_LOSS_NET,   /* a loss / feature network (--loss-net) */
    FILE_ROLE_CHECKPOINT, /* a libstyle training checkpoint (--resume) */
    FILE_ROLE_IMAGE,      /* an image to decode */
} file_role;

/* The kind of `size` bytes of `data` (NULL with size 0 is an empty file). */
file_kind style__file_kind(const void *data, size_t size);

/* "a JPEG image", "a PyTorch file (torch.save, ZIP format)", ... */
const char *style__file_kind_description(file_kind kind);

/*
 * STYLE_OK when the data may be what `role` expects (its kind is one the role takes, or is
 * not recognised: the format's own parser then reports what is wrong). Otherwise fails with
 * STYLE_ERR_FORMAT (STYLE_ERR_UNSUPPORTED for an image format libstyle does not decode) and
 * a message, without a file name, that says what the file is and what to do, e.g.
 * "this is a PyTorch file (torch.save, ZIP format), not a style model: convert it with ...".
 */
style_status style__file_kind_check(const void *data, size_t size, file_role role);

#endif
