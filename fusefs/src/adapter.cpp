// The thin libfuse3 low-level adapter: decodes each request, calls the
// Filesystem, encodes the reply. Every callback goes through serve(), the
// one place exceptions become errno (nothing throws into libfuse).
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "coffer/error.h"
#include "errno_map.h"
#include "session.h"

namespace coffer::fusefs {
namespace {

constexpr double kTimeout = 1.0;  // seconds the kernel may cache entries and attributes

// The record views follow the database (a pupil removed while mounted must
// vanish at once, sizes must match what a read renders): never cached.
double timeout_of(std::uint64_t ino) { return is_record_view(ino) ? 0.0 : kTimeout; }

struct Context {
  Filesystem* fs;
  std::function<StatFs()> host_statfs;
};

Filesystem& fs_of(fuse_req_t req) { return *static_cast<Context*>(fuse_req_userdata(req))->fs; }

Caller caller_of(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return Caller{c->uid, c->gid, c->pid};
}

template <class F>
void serve(fuse_req_t req, F&& f) noexcept {
  try {
    f();
  } catch (...) {
    fuse_reply_err(req, errno_of_current_exception());
  }
}

struct stat to_stat(const vault::Inode& i) {
  struct stat st {};
  st.st_ino = i.ino;
  st.st_mode = i.mode;
  st.st_nlink = i.nlink;
  st.st_uid = i.uid;
  st.st_gid = i.gid;
  st.st_size = static_cast<off_t>(i.size);
  st.st_rdev = i.rdev;
  st.st_blksize = 4096;
  st.st_blocks = static_cast<blkcnt_t>((i.size + 511) / 512);
  st.st_atim = {i.atime_ns / 1000000000, i.atime_ns % 1000000000};
  st.st_mtim = {i.mtime_ns / 1000000000, i.mtime_ns % 1000000000};
  st.st_ctim = {i.ctime_ns / 1000000000, i.ctime_ns % 1000000000};
  return st;
}

fuse_entry_param entry_of(const vault::Inode& i) {
  fuse_entry_param e{};
  e.ino = i.ino;
  e.generation = 1;
  e.attr = to_stat(i);
  e.attr_timeout = timeout_of(i.ino);
  e.entry_timeout = timeout_of(i.ino);
  return e;
}

void reply_entry(fuse_req_t req, const vault::Inode& i) {
  fuse_entry_param e = entry_of(i);
  fuse_reply_entry(req, &e);
}

void reply_attr(fuse_req_t req, const vault::Inode& i) {
  struct stat st = to_stat(i);
  fuse_reply_attr(req, &st, timeout_of(i.ino));
}

void op_init(void*, fuse_conn_info* conn) {
  // Large writes: fewer round trips; chunks are 128 KiB.
  conn->max_write = 1 << 20;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  serve(req, [&] { reply_entry(req, fs_of(req).lookup(parent, name, caller_of(req))); });
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  try {
    fs_of(req).forget(ino, n);
  } catch (...) {
  }
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) {
    try {
      fs_of(req).forget(forgets[i].ino, forgets[i].nlookup);
    } catch (...) {
    }
  }
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  serve(req, [&] { reply_attr(req, fs_of(req).getattr(ino)); });
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  serve(req, [&] {
    vault::SetAttr a;
    if (to_set & FUSE_SET_ATTR_MODE) a.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) a.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) a.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) a.size = static_cast<std::uint64_t>(attr->st_size);
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) a.atime_ns = vault::SetAttr::kNow;
    else if (to_set & FUSE_SET_ATTR_ATIME) a.atime_ns = attr->st_atim.tv_sec * 1000000000LL + attr->st_atim.tv_nsec;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) a.mtime_ns = vault::SetAttr::kNow;
    else if (to_set & FUSE_SET_ATTR_MTIME) a.mtime_ns = attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec;
    reply_attr(req, fs_of(req).setattr(ino, a));
  });
}

// Extended attributes: only user.coffer.expires (a file's own expiry).
// size 0 asks for the length; a short buffer is ERANGE.
void reply_xattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) fuse_reply_xattr(req, value.size());
  else if (size < value.size()) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, value.data(), value.size());
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  serve(req, [&] { reply_xattr(req, fs_of(req).getxattr(ino, name), size); });
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  serve(req, [&] {
    std::string names;
    for (auto& n : fs_of(req).listxattr(ino)) names += n + '\0';
    reply_xattr(req, names, size);
  });
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  serve(req, [&] {
    fs_of(req).setxattr(ino, name, std::string_view(value, size), flags);
    fuse_reply_err(req, 0);
  });
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  serve(req, [&] {
    fs_of(req).removexattr(ino, name);
    fuse_reply_err(req, 0);
  });
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  serve(req, [&] {
    std::string target = fs_of(req).readlink(ino);
    fuse_reply_readlink(req, target.c_str());
  });
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  serve(req, [&] { reply_entry(req, fs_of(req).mknod(caller_of(req), parent, name, mode, rdev)); });
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  serve(req, [&] { reply_entry(req, fs_of(req).mkdir(caller_of(req), parent, name, mode)); });
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  serve(req, [&] {
    fs_of(req).unlink(parent, name);
    fuse_reply_err(req, 0);
  });
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  serve(req, [&] {
    fs_of(req).rmdir(parent, name);
    fuse_reply_err(req, 0);
  });
}

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  serve(req, [&] { reply_entry(req, fs_of(req).symlink(caller_of(req), parent, name, target)); });
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
  serve(req, [&] {
    fs_of(req).rename(parent, name, newparent, newname, flags);
    fuse_reply_err(req, 0);
  });
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  serve(req, [&] { reply_entry(req, fs_of(req).link(ino, newparent, newname)); });
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  serve(req, [&] {
    fs_of(req).open(ino, fi->flags, caller_of(req));
    // Never keep_cache: each open drops the page cache, so every new open's
    // reads reach this process (the copy guard depends on it). The record
    // views are read with direct I/O: every read of pupil data is checked,
    // even by a process sharing another's open file (they are small, and
    // nothing needs to map them shared).
    fi->keep_cache = 0;
    if (is_record_view(ino)) fi->direct_io = 1;
    fuse_reply_open(req, fi);
  });
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  serve(req, [&] {
    fuse_entry_param e = entry_of(fs_of(req).create(caller_of(req), parent, name, mode));
    fi->keep_cache = 0;
    fuse_reply_create(req, &e, fi);
  });
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  serve(req, [&] {
    std::vector<std::uint8_t> buf(size);
    std::size_t n = fs_of(req).read(ino, static_cast<std::uint64_t>(off), buf, caller_of(req));
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), n);
  });
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off, fuse_file_info*) {
  serve(req, [&] {
    fs_of(req).write(ino, static_cast<std::uint64_t>(off), {reinterpret_cast<const std::uint8_t*>(data), size});
    fuse_reply_write(req, size);
  });
}

void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  serve(req, [&] {
    fs_of(req).release(ino);
    fuse_reply_err(req, 0);
  });
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  serve(req, [&] {
    fs_of(req).fsync(ino);
    fuse_reply_err(req, 0);
  });
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  serve(req, [&] {
    fs_of(req).opendir(ino, caller_of(req));
    fuse_reply_open(req, fi);
  });
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  serve(req, [&] {
    std::vector<char> buf(size);
    std::size_t used = 0;
    auto entries = fs_of(req).readdir(ino, static_cast<std::uint64_t>(off), 256, caller_of(req));
    for (const auto& e : entries) {
      struct stat st {};
      st.st_ino = e.ino;
      st.st_mode = e.mode;
      std::size_t need = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st,
                                           static_cast<off_t>(e.next_cookie));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  serve(req, [&] {
    fs_of(req).fsync(ino);
    fuse_reply_err(req, 0);
  });
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  serve(req, [&] {
    auto* ctx = static_cast<Context*>(fuse_req_userdata(req));
    StatFs s = ctx->fs->statfs(ctx->host_statfs());
    struct statvfs v {};
    v.f_bsize = v.f_frsize = s.block_size;
    v.f_blocks = s.blocks;
    v.f_bfree = s.blocks_free;
    v.f_bavail = s.blocks_avail;
    v.f_files = s.files;
    v.f_ffree = s.files_free;
    v.f_favail = s.files_free;
    v.f_namemax = s.name_max;
    fuse_reply_statfs(req, &v);
  });
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.flush = op_flush;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.statfs = op_statfs;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  ops.setxattr = op_setxattr;
  ops.removexattr = op_removexattr;
  return ops;
}

}  // namespace

struct FuseSession::Impl {
  Context ctx;
  fuse_session* se = nullptr;
  bool mounted = false;
};

FuseSession::FuseSession(Filesystem& fs, const std::string& options, std::function<StatFs()> host_statfs)
    : impl_(std::make_unique<Impl>()) {
  impl_->ctx = Context{&fs, std::move(host_statfs)};
  std::vector<std::string> argv_s = {"coffer", "-o", options};
  std::vector<char*> argv;
  argv.reserve(argv_s.size());
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_lowlevel_ops ops = make_ops();
  impl_->se = fuse_session_new(&args, &ops, sizeof(ops), &impl_->ctx);
  // Parsing may have copied the arguments; the session keeps nothing of them.
  fuse_opt_free_args(&args);
  if (impl_->se == nullptr) throw Error(ErrorCode::kOther, "cannot start the FUSE session (bad mount options)");
}

FuseSession::~FuseSession() {
  if (impl_->se) {
    if (impl_->mounted) fuse_session_unmount(impl_->se);
    fuse_session_destroy(impl_->se);
  }
}

void FuseSession::mount(const std::string& mountpoint) {
  if (fuse_session_mount(impl_->se, mountpoint.c_str()) != 0)
    throw Error(ErrorCode::kIo, "cannot mount on " + mountpoint +
                                    " (is FUSE available? /dev/fuse must be usable and fusermount3 "
                                    "installed)");
  impl_->mounted = true;
}

void FuseSession::run() {
  // Two workers: one copies the next request out of the kernel while the
  // other is in the (mutex-serialised) filesystem, so FUSE transfer and
  // encryption overlap on the two cores.
  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(config, 0);
  fuse_loop_cfg_set_max_threads(config, 2);
  fuse_loop_cfg_set_idle_threads(config, 2);
  fuse_session_loop_mt(impl_->se, config);
  fuse_loop_cfg_destroy(config);
}

void FuseSession::invalidate(std::uint64_t ino) { fuse_lowlevel_notify_inval_inode(impl_->se, ino, 0, 0); }

void FuseSession::unmount() {
  if (!impl_->mounted) return;
  fuse_session_unmount(impl_->se);
  impl_->mounted = false;
}

}  // namespace coffer::fusefs
