#include "fields.h"

#include <cmath>

namespace fastkp::infer {

Fields::Fields(const json::Value& object, std::string context) : object_(object), context_(std::move(context)) {
  if (object.type != json::Value::Type::Object) throw std::runtime_error(context_ + "not a JSON object");
}

void Fields::fail(const char* key, const std::string& what) const {
  throw std::runtime_error(context_ + "field '" + key + "' " + what);
}

const json::Value& Fields::get(const char* key, json::Value::Type type) const {
  const json::Value* v = object_.find(key);
  if (v == nullptr) throw std::runtime_error(context_ + "no field '" + key + "'");
  if (v->type != type) fail(key, "has the wrong type");
  return *v;
}

const json::Value* Fields::optional(const char* key, json::Value::Type type) const {
  const json::Value* v = object_.find(key);
  if (v == nullptr || v->type == json::Value::Type::Null) return nullptr;
  if (v->type != type) fail(key, "has the wrong type");
  return v;
}

std::string Fields::text(const char* key) const { return get(key, json::Value::Type::String).string; }

double Fields::number(const char* key) const { return get(key, json::Value::Type::Number).number; }

int64_t Fields::positive_int(const json::Value& v, const char* key) const {
  if (v.type != json::Value::Type::Number || v.number < 1 || v.number != std::floor(v.number) || v.number > 1e9)
    fail(key, "is not a positive integer");
  return static_cast<int64_t>(v.number);
}

int64_t Fields::positive_int(const char* key) const {
  return positive_int(get(key, json::Value::Type::Number), key);
}

std::vector<double> Fields::numbers(const char* key, size_t n) const {
  const json::Value& v = get(key, json::Value::Type::Array);
  if (v.items.size() != n) fail(key, "has the wrong length");
  std::vector<double> out;
  for (const auto& item : v.items) {
    if (item.type != json::Value::Type::Number) fail(key, "holds a non-number");
    out.push_back(item.number);
  }
  return out;
}

std::vector<std::string> Fields::texts(const json::Value& array, const char* key) const {
  std::vector<std::string> out;
  for (const auto& item : array.items) {
    if (item.type != json::Value::Type::String) fail(key, "holds a non-string");
    out.push_back(item.string);
  }
  return out;
}

}  // namespace fastkp::infer
