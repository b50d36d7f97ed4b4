// Fakes of libfuse3's request, reply and session functions; see
// fake_fuse.h. Each reply records itself in the request; readdir entries
// are packed as the kernel's fuse_dirent, as libfuse does.
#include "fake_fuse.h"

#include <cstring>

namespace coffer::test {
namespace {

FakeFuse g_fake;
struct Dirent {  // the kernel's struct fuse_dirent
  std::uint64_t ino;
  std::uint64_t off;
  std::uint32_t namelen;
  std::uint32_t type;
};
constexpr std::size_t kNameOffset = sizeof(Dirent);
std::size_t dirent_size(std::size_t namelen) { return (kNameOffset + namelen + 7) & ~std::size_t{7}; }

int record(fuse_req_t req, ReplyKind kind) {
  req->reply.kind = kind;
  ++req->reply.replies;
  return 0;
}

}  // namespace

FakeFuse& fake_fuse() { return g_fake; }
void reset_fake_fuse() { g_fake = FakeFuse{}; }

std::vector<DirentReply> Reply::dirents() const {
  std::vector<DirentReply> out;
  for (std::size_t at = 0; at + kNameOffset <= data.size();) {
    Dirent d;
    std::memcpy(&d, data.data() + at, sizeof d);
    out.push_back({data.substr(at + kNameOffset, d.namelen), d.ino, d.off, d.type << 12});
    at += dirent_size(d.namelen);
  }
  return out;
}

}  // namespace coffer::test

using coffer::test::g_fake;
using coffer::test::ReplyKind;

struct fuse_session {
  int unused;
};
struct fuse_loop_config {
  int unused;
};

extern "C" {

void* fuse_req_userdata(fuse_req_t) { return g_fake.userdata; }
const fuse_ctx* fuse_req_ctx(fuse_req_t) { return &g_fake.ctx; }

int fuse_reply_err(fuse_req_t req, int err) {
  req->reply.err = err;
  return coffer::test::record(req, ReplyKind::kErr);
}
void fuse_reply_none(fuse_req_t req) { coffer::test::record(req, ReplyKind::kNoReply); }
int fuse_reply_entry(fuse_req_t req, const fuse_entry_param* e) {
  req->reply.entry = *e;
  return coffer::test::record(req, ReplyKind::kEntry);
}
int fuse_reply_create(fuse_req_t req, const fuse_entry_param* e, const fuse_file_info* fi) {
  req->reply.entry = *e;
  req->reply.fi = *fi;
  return coffer::test::record(req, ReplyKind::kCreate);
}
int fuse_reply_attr(fuse_req_t req, const struct stat* attr, double timeout) {
  req->reply.attr = *attr;
  req->reply.attr_timeout = timeout;
  return coffer::test::record(req, ReplyKind::kAttr);
}
int fuse_reply_readlink(fuse_req_t req, const char* link) {
  req->reply.data = link;
  return coffer::test::record(req, ReplyKind::kReadlink);
}
int fuse_reply_open(fuse_req_t req, const fuse_file_info* fi) {
  req->reply.fi = *fi;
  return coffer::test::record(req, ReplyKind::kOpen);
}
int fuse_reply_write(fuse_req_t req, size_t count) {
  req->reply.size = count;
  return coffer::test::record(req, ReplyKind::kWrite);
}
int fuse_reply_buf(fuse_req_t req, const char* buf, size_t size) {
  req->reply.data.assign(buf, size);
  return coffer::test::record(req, ReplyKind::kBuf);
}
int fuse_reply_statfs(fuse_req_t req, const struct statvfs* stbuf) {
  req->reply.statvfs = *stbuf;
  return coffer::test::record(req, ReplyKind::kStatfs);
}
int fuse_reply_xattr(fuse_req_t req, size_t count) {
  req->reply.size = count;
  return coffer::test::record(req, ReplyKind::kXattrSize);
}

size_t fuse_add_direntry(fuse_req_t, char* buf, size_t bufsize, const char* name, const struct stat* stbuf, off_t off) {
  std::size_t namelen = std::strlen(name);
  std::size_t size = coffer::test::dirent_size(namelen);
  if (buf == nullptr || size > bufsize) return size;
  coffer::test::Dirent d{stbuf->st_ino, static_cast<std::uint64_t>(off), static_cast<std::uint32_t>(namelen),
                         (stbuf->st_mode & S_IFMT) >> 12};
  std::memset(buf, 0, size);
  std::memcpy(buf, &d, sizeof d);
  std::memcpy(buf + coffer::test::kNameOffset, name, namelen);
  return size;
}

fuse_session* fuse_session_new(fuse_args* args, const fuse_lowlevel_ops* op, size_t op_size, void* userdata) {
  static fuse_session session;
  g_fake.args.assign(args->argv, args->argv + args->argc);
  if (g_fake.fail_session_new || op_size != sizeof(fuse_lowlevel_ops)) return nullptr;
  g_fake.ops = *op;
  g_fake.userdata = userdata;
  return &session;
}
void fuse_opt_free_args(fuse_args*) {}
int fuse_session_mount(fuse_session*, const char* mountpoint) {
  g_fake.mountpoint = mountpoint;
  g_fake.mounted = g_fake.mount_result == 0;
  return g_fake.mount_result;
}
void fuse_session_unmount(fuse_session*) { g_fake.mounted = false; }
void fuse_session_destroy(fuse_session*) { ++g_fake.destroyed; }
int fuse_session_loop_mt(fuse_session*, fuse_loop_config*) {
  ++g_fake.loops;
  return 0;
}
fuse_loop_config* fuse_loop_cfg_create(void) {
  static fuse_loop_config config;
  return &config;
}
void fuse_loop_cfg_destroy(fuse_loop_config*) {}
void fuse_loop_cfg_set_clone_fd(fuse_loop_config*, unsigned int) {}
void fuse_loop_cfg_set_max_threads(fuse_loop_config*, unsigned int) {}
void fuse_loop_cfg_set_idle_threads(fuse_loop_config*, unsigned int) {}
int fuse_lowlevel_notify_inval_inode(fuse_session*, fuse_ino_t ino, off_t, off_t) {
  g_fake.invalidated.push_back(ino);
  return 0;
}

}  // extern "C"
