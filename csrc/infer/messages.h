// Turning library errors into the one-line messages of fastkp::infer::Error.
#pragma once

#include <string>

namespace fastkp::infer {

// The first line of a (possibly multi-line) message, trimmed.
inline std::string first_line(const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '.')) line.pop_back();
  return line;
}

}  // namespace fastkp::infer
