#include "fastkp/infer/prediction.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "fastkp/infer/error.h"
#include "json.h"

namespace fastkp::infer {

const HeadOutput& Prediction::find(const std::string& kind, const std::string& name) const {
  std::string all;
  for (const HeadOutput& head : heads) {
    if (name.empty() ? head.kind == kind : head.name == name) {
      if (head.kind != kind) throw Error("head '" + name + "' is a " + head.kind + " head, not " + kind);
      return head;
    }
    all += (all.empty() ? "" : ", ") + head.name + "(" + head.kind + ")";
  }
  throw Error("no " + (name.empty() ? kind + " head" : "head named '" + name + "'") + " among the heads " +
              (all.empty() ? "(none)" : all));
}

bool valid_box(const Box& box) {
  return std::all_of(box.begin(), box.end(), [](float v) { return std::isfinite(v); }) && box[2] > box[0] &&
         box[3] > box[1];
}

std::string to_json(const std::string& image_path, const Image& image, const Prediction& prediction,
                    const Metadata& metadata) {
  if (prediction.heads.size() != metadata.heads.size())
    throw Error(image_path + ": a prediction of " + std::to_string(prediction.heads.size()) +
                " heads for a model of " + std::to_string(metadata.heads.size()));
  std::vector<JsonField> fields = {{"image", json::quote(image_path)},
                                   {"height", std::to_string(image.height)},
                                   {"width", std::to_string(image.width)}};
  if (const auto& b = prediction.box)
    fields.push_back({"box", "[" + json::number((*b)[0]) + ", " + json::number((*b)[1]) + ", " +
                                 json::number((*b)[2]) + ", " + json::number((*b)[3]) + "]"});
  std::vector<std::string> owners(fields.size());  // the head that wrote each field ("" for the image's)
  for (size_t h = 0; h < metadata.heads.size(); ++h) {
    for (JsonField& field : metadata.heads[h].decoder->json_fields(prediction.heads[h].values)) {
      fields.push_back(std::move(field));
      owners.push_back(metadata.heads[h].name);
    }
  }
  // A key written by two heads (or a head and the image) is prefixed with each head's name.
  std::map<std::string, int> uses;
  for (const JsonField& field : fields) ++uses[field.key];
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string key = uses[fields[i].key] > 1 && !owners[i].empty() ? owners[i] + "_" + fields[i].key : fields[i].key;
    line += (i ? ", " : "{") + json::quote(key) + ": " + fields[i].value;
  }
  return line + "}";
}

}  // namespace fastkp::infer
