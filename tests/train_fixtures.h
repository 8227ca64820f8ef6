/* Small training inputs made with the library itself, for the trainer's C and CLI tests. */
#ifndef STYLE_TEST_TRAIN_FIXTURES_H
#define STYLE_TEST_TRAIN_FIXTURES_H

#include <stdint.h>

/*
 * A random feature-net file: conv3 s1 -> leaky -> pool -> conv1 -> relu -> conv3 s2, taps
 * a (leaky), pre (conv1 output), b (relu), c (last conv); content b, style a b c.
 * Returns 0 on success.
 */
int train_fixture_feature_net(const char *path, uint64_t seed);

/*
 * DIR/photos/ (five smooth PNG photos of 40..52 x 36..40, two in photos/sub/, and `jpegs`
 * JPEG photos of other sizes) and DIR/style.png. Returns 0 on success.
 */
int train_fixture_photos(const char *dir, int jpegs);

#endif
