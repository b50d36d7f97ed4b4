/* A FUSE filesystem that is not a coffer but says it is: mounted with
 * subtype=coffer it shows as "fuse.coffer" in the mount table. It keeps
 * regular files in memory in one flat directory, enough for a create and a
 * write through it (a real impostor would forward the data anywhere). The
 * copy guard must guard it like any other FUSE filesystem (issue 15 §2).
 * Usage: fuse_impostor MOUNTPOINT (foreground; unmount to end it). */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse3/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 64
static struct {
  char name[256];
  size_t size;
  int used;
} files[MAX_FILES];

static int find(const char* path) {
  if (path[0] != '/') return -1;
  for (int i = 0; i < MAX_FILES; i++)
    if (files[i].used && strcmp(files[i].name, path + 1) == 0) return i;
  return -1;
}

static int im_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0777;
    st->st_nlink = 2;
    return 0;
  }
  int i = find(path);
  if (i < 0) return -ENOENT;
  st->st_mode = S_IFREG | 0666;
  st->st_nlink = 1;
  st->st_size = (off_t)files[i].size;
  return 0;
}

static int im_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info* fi,
                      enum fuse_readdir_flags flags) {
  (void)off, (void)fi, (void)flags;
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  for (int i = 0; i < MAX_FILES; i++)
    if (files[i].used) fill(buf, files[i].name, NULL, 0, 0);
  return 0;
}

static int im_create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  (void)mode, (void)fi;
  if (find(path) >= 0) return 0;
  if (strlen(path + 1) >= sizeof files[0].name || strchr(path + 1, '/')) return -EINVAL;
  for (int i = 0; i < MAX_FILES; i++)
    if (!files[i].used) {
      files[i].used = 1;
      files[i].size = 0;
      strcpy(files[i].name, path + 1);
      return 0;
    }
  return -ENOSPC;
}

static int im_open(const char* path, struct fuse_file_info* fi) {
  (void)fi;
  return find(path) < 0 ? -ENOENT : 0;
}

static int im_write(const char* path, const char* data, size_t n, off_t off, struct fuse_file_info* fi) {
  (void)data, (void)fi;
  int i = find(path);
  if (i < 0) return -ENOENT;
  if ((size_t)off + n > files[i].size) files[i].size = (size_t)off + n;
  return (int)n;
}

static int im_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  (void)fi;
  int i = find(path);
  if (i < 0) return -ENOENT;
  files[i].size = (size_t)size;
  return 0;
}

static const struct fuse_operations ops = {
    .getattr = im_getattr,
    .readdir = im_readdir,
    .create = im_create,
    .open = im_open,
    .write = im_write,
    .truncate = im_truncate,
};

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  char* args[] = {argv[0], "-f", "-o", "subtype=coffer,fsname=coffer,allow_other", argv[1], NULL};
  return fuse_main(5, args, &ops, NULL);
}
