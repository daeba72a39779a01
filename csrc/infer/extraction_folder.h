// A private temporary folder for a pt2 package's extracted files.
#pragma once

#include <filesystem>
#include <functional>

namespace fastkp::infer {

// AOTIModelPackageLoader extracts a package (~50 MB) into a folder under
// std::filesystem::temp_directory_path() and leaves it there when loading fails.
// This folder, made with mode 0700 under the same temp path and named
// fastkp-pt2-PID-XXXXXX, is removed with its contents when the object is destroyed; run
// the loader's constructor inside with_tmpdir so that its extraction lands here. Making
// one first removes the folders of that name, of this user, whose process is gone.
class ExtractionFolder {
 public:
  ExtractionFolder();  // std::runtime_error when the folder cannot be made
  ~ExtractionFolder();
  ExtractionFolder(const ExtractionFolder&) = delete;
  ExtractionFolder& operator=(const ExtractionFolder&) = delete;

  // Calls `fn` with TMPDIR set to this folder, then restores TMPDIR. Calls are
  // serialised; other threads reading the environment meanwhile see the change.
  void with_tmpdir(const std::function<void()>& fn) const;

 private:
  std::filesystem::path path_;
};

}  // namespace fastkp::infer
