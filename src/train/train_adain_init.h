/* Warm start of an AdaIN decoder from a trained AdaIN model (train_adain_init.c). */
#ifndef STYLE_TRAIN_ADAIN_INIT_H
#define STYLE_TRAIN_ADAIN_INIT_H

#include "features/feature_net.h"
#include "train/train_checkpoint.h"

/*
 * Loads the AdaIN model at `path` and checks that its decoder can start this training: its
 * tap is `tap` (an empty `tap` takes the model's), its recorded loss network SHA-256 (when it
 * has one) is the SHA-256 of loss_net_path, and its embedded encoder holds exactly the loss
 * network's weights up to the tap. *init receives the model (free with style_model_free),
 * sha256 the model file's SHA-256.
 */
style_status train_adain_init_open(const char *path, const char *loss_net_path,
                                   const feature_net *net, char tap[FNET_NAME_MAX],
                                   char sha256[SHA256_HEX_SIZE], style_model **init);

/* Copies the model's decoder weights into the trainer's parameters (every one present with
 * the same shape, else a clear error). */
style_status train_adain_init_params(const style_model *init, const char *path, train_params *p);

#endif
