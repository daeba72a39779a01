#include "extraction_folder.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fastkp::infer {
namespace {

std::mutex tmpdir_mutex;

// Sets TMPDIR for its lifetime; the previous value (or its absence) comes back after.
class TmpdirOverride {
 public:
  explicit TmpdirOverride(const std::string& value) {
    if (const char* old = std::getenv("TMPDIR")) old_ = old;
    setenv("TMPDIR", value.c_str(), 1);
  }
  ~TmpdirOverride() {
    if (old_) setenv("TMPDIR", old_->c_str(), 1);
    else unsetenv("TMPDIR");
  }
  TmpdirOverride(const TmpdirOverride&) = delete;
  TmpdirOverride& operator=(const TmpdirOverride&) = delete;

 private:
  std::optional<std::string> old_;
};

constexpr std::string_view kPrefix = "fastkp-pt2-";

// The pid in a folder name "fastkp-pt2-PID-XXXXXX" (as this program and fastkp.export.pt2
// name them), or 0.
pid_t owner(const std::string& name) {
  if (!name.starts_with(kPrefix)) return 0;
  const char *p = name.data() + kPrefix.size(), *end = name.data() + name.size();
  pid_t pid = 0;
  auto [next, ec] = std::from_chars(p, end, pid);
  return ec == std::errc() && next != p && next < end && *next == '-' && pid > 0 ? pid : 0;
}

// Removes this user's extraction folders whose process is gone: a process killed while
// loading or running (a SIGBUS from a damaged library, kill -9) could not remove its own.
void remove_stale(const std::filesystem::path& temp) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(temp, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    const pid_t pid = owner(it->path().filename().string());
    struct stat st;
    if (pid == 0 || lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or another user's pid: not ours to judge
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
}

}  // namespace

ExtractionFolder::ExtractionFolder() {
  const std::filesystem::path temp = std::filesystem::temp_directory_path();
  remove_stale(temp);
  std::string pattern = (temp / (std::string(kPrefix) + std::to_string(getpid()) + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot create a folder " + pattern + ": " + std::strerror(errno));
  path_ = pattern;
}

ExtractionFolder::~ExtractionFolder() {
  std::error_code ec;  // a folder that cannot be removed is left behind, not an error
  std::filesystem::remove_all(path_, ec);
}

void ExtractionFolder::with_tmpdir(const std::function<void()>& fn) const {
  std::lock_guard<std::mutex> lock(tmpdir_mutex);
  TmpdirOverride tmpdir(path_.string());
  fn();
}

}  // namespace fastkp::infer
