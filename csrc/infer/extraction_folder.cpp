#include "extraction_folder.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

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

}  // namespace

ExtractionFolder::ExtractionFolder() {
  std::string pattern = (std::filesystem::temp_directory_path() / "fastkp-pt2-XXXXXX").string();
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
