#!/usr/bin/env bash
# Files people actually have (issue 21): WebP in and out through `libstyle stylize` (by the
# extension, lossless by default, lossy with --quality, alpha kept, found in directories;
# PNG at every --png-level holding the same samples),
# and wrong files named by what they are, with what to do: an image or a PyTorch, ONNX,
# ml5 or empty file given as the model, a PyTorch file as the loss network, a model as the
# input image, a GIF input.
#
# Usage: test_cli_formats.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-formats
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

# ---- WebP ---------------------------------------------------------------------------------

webp_out_and_in() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/out.webp" &&
        [ "$(head -c 4 "$scratch/out.webp")" = RIFF ] &&
        [ "$(tail -c +9 "$scratch/out.webp" | head -c 4)" = WEBP ] &&
        "$fixtures" check "$scratch/out.webp" 37 29 3 &&
        "$bin" stylize --model "$model" "$scratch/out.webp" "$scratch/again.png" &&
        "$fixtures" check "$scratch/again.png" 37 29 3
}
check "stylize to .webp and from .webp" webp_out_and_in

# The default is lossless: the .webp decodes to exactly what the .png holds.
webp_lossless_by_default() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/same.png" &&
        "$fixtures" compare "$scratch/out.webp" "$scratch/same.png" 0
}
check "stylize to .webp: lossless by default (same samples as .png)" webp_lossless_by_default

webp_lossy_with_quality() {
    "$bin" stylize --model "$model" --quality 50 "$scratch/photo.png" "$scratch/lossy.webp" &&
        "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/lossless.webp" &&
        [ "$(stat -c %s "$scratch/lossy.webp")" -lt "$(stat -c %s "$scratch/lossless.webp")" ] &&
        "$fixtures" compare "$scratch/lossy.webp" "$scratch/lossless.webp" 40
}
check "stylize --quality 50 to .webp: lossy, smaller, close" webp_lossy_with_quality

# --png-level: stored (0) is larger than the default, and every level holds the same samples.
png_levels_same_samples() {
    "$bin" stylize --model "$model" --png-level 0 "$scratch/photo.png" "$scratch/stored.png" &&
        "$bin" stylize --model "$model" --png-level 9 "$scratch/photo.png" "$scratch/nine.png" &&
        "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/default.png" &&
        [ "$(stat -c %s "$scratch/stored.png")" -gt "$(stat -c %s "$scratch/default.png")" ] &&
        "$fixtures" compare "$scratch/stored.png" "$scratch/default.png" 0 &&
        "$fixtures" compare "$scratch/nine.png" "$scratch/default.png" 0 &&
        "$bin" stylize --model "$model" --png-level 1 "$scratch/photo.png" - >"$scratch/piped.png" &&
        "$fixtures" compare "$scratch/piped.png" "$scratch/default.png" 0
}
check "stylize --png-level 0, 9, default and to stdout: the same samples, stored larger" png_levels_same_samples

webp_keeps_alpha() {
    "$bin" stylize --model "$model" "$scratch/sprite.png" "$scratch/sprite.webp" &&
        "$fixtures" check "$scratch/sprite.webp" 20 16 4 &&
        "$bin" stylize --model "$model" --quality 80 "$scratch/sprite.png" "$scratch/sprite-q.webp" &&
        "$fixtures" check "$scratch/sprite-q.webp" 20 16 4
}
check "stylize RGBA to .webp (lossless and lossy): alpha kept" webp_keeps_alpha

webp_in_directories() {
    mkdir -p "$scratch/in/sub" "$scratch/out-dir"
    cp "$scratch/out.webp" "$scratch/in/sub/picture.WEBP"
    "$bin" stylize --model "$model" --quiet --out-dir "$scratch/out-dir" "$scratch/in" &&
        "$fixtures" check "$scratch/out-dir/sub/picture.WEBP" 37 29 3
}
check "stylize --out-dir finds .webp files and writes WebP" webp_in_directories

truncated_webp() {
    head -c 40 "$scratch/out.webp" >"$scratch/cut.webp"
    expect_status 1 "cut.webp: truncated WebP" \
        "$bin" stylize --model "$model" "$scratch/cut.webp" "$scratch/cut-out.png" &&
        [ ! -e "$scratch/cut-out.png" ]
}
check "a truncated .webp input: exit 1, says truncated, no output" truncated_webp

# ---- wrong files --------------------------------------------------------------------------

image_as_model() {
    expect_status 1 "model_load: .*photo.jpg: this is a JPEG image, not a style model" \
        "$bin" stylize --model "$scratch/photo.jpg" "$scratch/photo.png" "$scratch/x.png" &&
        grep -q "libstyle stylize --model MODEL.safetensors IMAGE OUTPUT" "$scratch/err.txt" &&
        [ "$(wc -l <"$scratch/err.txt")" -eq 1 ] && [ ! -e "$scratch/x.png" ]
}
check "a JPEG as --model: says so and what to do, one line" image_as_model

# torch.save's ZIP format starts with a local header naming ARCHIVE/data.pkl.
printf 'PK\003\004\024\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\020\000\000\000candy/data.pkl' \
    >"$scratch/candy.pth"
printf '\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e' >"$scratch/vgg16-397923af.pth"
printf '\x08\x07\x12\x07pytorch\x3a\x02\x0a\x00\x42\x02\x10\x09' >"$scratch/mosaic.onnx"
printf '{"Variable": {"filename": "Variable", "shape": [9, 9, 3, 32]}}' >"$scratch/manifest.json"
: >"$scratch/empty.safetensors"

pth_as_model() {
    expect_status 1 "candy.pth: this is a PyTorch file (torch.save, ZIP format), not a style model" \
        "$bin" info "$scratch/candy.pth" &&
        grep -q "python3 -m libstyle.convert from-pytorch IN.pth OUT.safetensors" "$scratch/err.txt"
}
check "info on a PyTorch .pth: points to the converter" pth_as_model

legacy_pth_as_model() {
    expect_status 1 "legacy pickle format), not a style model.*from-pytorch" \
        "$bin" stylize --model "$scratch/vgg16-397923af.pth" "$scratch/photo.png" "$scratch/x.png"
}
check "a legacy-pickle .pth as --model: points to the converter" legacy_pth_as_model

onnx_as_model() {
    expect_status 1 "this is an ONNX model, not a style model.*from-onnx IN.onnx OUT.safetensors" \
        "$bin" info "$scratch/mosaic.onnx"
}
check "an ONNX model as the model: points to from-onnx" onnx_as_model

ml5_as_model() {
    expect_status 1 "ml5 / deeplearn.js checkpoint manifest.*libstyle import-ml5 DIR OUT.safetensors" \
        "$bin" info "$scratch/manifest.json"
}
check "an ml5 manifest as the model: points to import-ml5" ml5_as_model

empty_model() {
    expect_status 1 "empty.safetensors: this is an empty file (0 bytes), not a style model" \
        "$bin" info "$scratch/empty.safetensors"
}
check "an empty model file: says empty" empty_model

model_as_image() {
    expect_status 1 "model.safetensors: this is a safetensors file (a model or network), not an image" \
        "$bin" stylize --model "$model" "$model" "$scratch/x.png"
}
check "the model as the input image: says so" model_as_image

gif_input() {
    printf 'GIF89a\001\000\001\000\000\000\000' >"$scratch/anim.gif"
    expect_status 1 "anim.gif: this is a GIF image, which libstyle does not decode" \
        "$bin" stylize --model "$model" "$scratch/anim.gif" "$scratch/x.png"
}
check "a GIF input: says GIF is not decoded, names what is" gif_input

pth_as_loss_net() {
    "$fixtures" train "$scratch" >/dev/null
    expect_status 1 "vgg16-397923af.pth: this is a PyTorch file.*not a loss network" \
        "$bin" train --style-image "$scratch/style.png" --data "$scratch/photos" \
        --loss-net "$scratch/vgg16-397923af.pth" --out "$scratch/trained.safetensors" \
        --iterations 1 &&
        grep -q "python3 -m libstyle.convert lossnet-from-pytorch IN.pth OUT.safetensors" \
            "$scratch/err.txt" && [ ! -e "$scratch/trained.safetensors" ]
}
check "a PyTorch .pth as --loss-net: points to lossnet-from-pytorch" pth_as_loss_net

model_as_loss_net() {
    expect_status 1 "model.safetensors: this is a style model, not a loss network" \
        "$bin" train --style-image "$scratch/style.png" --data "$scratch/photos" \
        --loss-net "$model" --out "$scratch/trained.safetensors" --iterations 1
}
check "a style model as --loss-net: says so" model_as_loss_net

finish
