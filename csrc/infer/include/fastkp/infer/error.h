#pragma once

#include <stdexcept>

namespace fastkp::infer {

// What every fastkp::infer function throws for a missing, corrupt or foreign
// model or image file or for unusable input: what() is one line naming the file.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fastkp::infer
