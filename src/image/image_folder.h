/*
 * The image files under a folder: .png, .jpg, .jpeg and .webp files (by extension,
 * case-insensitive), recursively, links followed (a link to a directory once, never into a
 * loop; a dangling link ignored), sorted by path so that the order does not depend on the file
 * system. The training photos and the styles of the AdaIN trainer.
 */
#ifndef STYLE_IMAGE_FOLDER_H
#define STYLE_IMAGE_FOLDER_H

#include "core/common.h"

/*
 * Lists `root` into *paths (*count paths, each and the array style__malloc'd; free them with
 * image_folder_free). A subdirectory that cannot be read is skipped with a warning to `log`
 * (may be NULL). Fails with STYLE_ERR_IO when root is not a readable directory; no image
 * under it is not a failure (*count 0, *paths NULL).
 */
style_status image_folder_list(const char *root, style_log_fn log, void *log_user, char ***paths,
                               size_t *count);
void image_folder_free(char **paths, size_t count);

#endif
