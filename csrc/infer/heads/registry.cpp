// Adding a head kind: a decoder file heads/<kind>.cpp defining its parser, declared below
// and named in make_head_decoder's table.
#include "registry.h"

#include <map>
#include <string_view>

namespace fastkp::infer {

using HeadParser = std::shared_ptr<const HeadDecoder> (*)(const Fields& entry);

// Defined in heads/<kind>.cpp.
std::shared_ptr<const HeadDecoder> parse_keypoints_head(const Fields& entry);
std::shared_ptr<const HeadDecoder> parse_multilabel_head(const Fields& entry);
std::shared_ptr<const HeadDecoder> parse_values_head(const Fields& entry);
std::shared_ptr<const HeadDecoder> parse_scalar_head(const Fields& entry);
std::shared_ptr<const HeadDecoder> parse_binary_head(const Fields& entry);
std::shared_ptr<const HeadDecoder> parse_classes_head(const Fields& entry);

std::shared_ptr<const HeadDecoder> make_head_decoder(const std::string& name, const std::string& kind,
                                                     const Fields& entry) {
  static const std::map<std::string_view, HeadParser> kParsers = {
      {"keypoints", parse_keypoints_head},
      {"multilabel", parse_multilabel_head},
      {"values", parse_values_head},
      {"scalar", parse_scalar_head},
      {"binary", parse_binary_head},
      {"classes", parse_classes_head},
  };
  auto it = kParsers.find(kind);
  if (it == kParsers.end())
    throw Unsupported("head '" + name + "' has kind '" + kind + "', which this fastkp-infer does not know");
  return it->second(entry);
}

}  // namespace fastkp::infer
