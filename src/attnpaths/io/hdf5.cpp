#include "attnpaths/io/hdf5.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <type_traits>

#include "attnpaths/core/error.hpp"

namespace attnpaths::h5 {

namespace {

// Collects HDF5's error stack into one line (automatic printing is switched off below).
herr_t walk_error(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n < 3 && e->desc && *e->desc) {
    if (!out->empty()) *out += "; ";
    *out += e->desc;
  }
  return 0;
}

std::string error_stack() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_error, &s);
  H5Eclear2(H5E_DEFAULT);
  return s;
}

struct QuietErrors {
  QuietErrors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const QuietErrors quiet_errors_once;

// The operating system's reason when a write failed for lack of space (HDF5's stack does not say it):
// errno of the failed write, or a file system with no free blocks left.
std::string space_reason(const std::string& file) {
  const int err = errno;
  if (err == ENOSPC || err == EDQUOT) return std::string(": ") + std::strerror(err);
  namespace fs = std::filesystem;
  const fs::path p(file);
  struct statvfs st {};
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  if (::statvfs(dir.c_str(), &st) == 0 && st.f_bavail == 0) return std::string(": ") + std::strerror(ENOSPC);
  return "";
}

// Set when an HDF5 call failed on this rank (a write that found the disk full, ...): such a failure may
// be this rank's alone, so the other ranks may be in another collective call (see ~File).
bool hdf5_call_failed = false;

[[noreturn]] void fail(const std::string& what, const std::string& file, const std::string& object) {
  hdf5_call_failed = true;
  const std::string reason = space_reason(file);
  const std::string where = file.empty() ? fmt::format("object '{}'", object)
                                          : fmt::format("file '{}', object '{}'", file, object);
  throw LibraryError(fmt::format("HDF5: {} ({}): {}{}", what, where, error_stack(), reason));
}

hid_t check(hid_t id, const char* what, const std::string& file, const std::string& object) {
  if (id < 0) fail(what, file, object);
  return id;
}

void check_status(herr_t st, const char* what, const std::string& file, const std::string& object) {
  if (st < 0) fail(what, file, object);
}

// The property lists and types below belong to no file: failures name the call and the object made.
// A write's transfer list: collective under MPI-IO; a file of one rank uses POSIX I/O (File), which
// has no collective mode.
Id collective_xfer(const Comm* comm) {
  Id p(check(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate", "", "collective transfer list"), H5Pclose);
  if (comm == nullptr || comm->size() > 1)
    check_status(H5Pset_dxpl_mpio(p.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", "", "collective transfer list");
  return p;
}

Id string_type() {
  Id t(check(H5Tcopy(H5T_C_S1), "H5Tcopy", "", "variable-length string type"), H5Tclose);
  check_status(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size", "", "variable-length string type");
  check_status(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", "", "variable-length string type");
  return t;
}

// A link-creation list that creates missing intermediate groups (for `object` of `file`).
Id intermediate_groups(const std::string& file, const std::string& object) {
  Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate", file, object), H5Pclose);
  check_status(H5Pset_create_intermediate_group(lcpl.get(), 1), "H5Pset_create_intermediate_group", file, object);
  return lcpl;
}

// The dataspace of dataset `d` (named `object` of `file`).
Id dataset_space(hid_t d, const std::string& file, const std::string& object) {
  return Id(check(H5Dget_space(d), "H5Dget_space", file, object), H5Sclose);
}

// Selects nothing in `space` (a rank without rows in a collective transfer).
void select_none(const Id& space, const std::string& file, const std::string& object) {
  check_status(H5Sselect_none(space.get()), "H5Sselect_none", file, object);
}

hsize_t product(const Dims& d) {
  hsize_t n = 1;
  for (auto x : d) n *= x;
  return n;
}

}  // namespace

template <>
hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <>
hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <>
hid_t native_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <>
hid_t native_type<int>() { return H5T_NATIVE_INT; }
template <>
hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }
template <>
hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }

Id& Id::operator=(Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Id::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

// ---------------------------------------------------------------------------------------------- Location

std::string Location::child_name(const std::string& path) const {
  if (!path.empty() && path[0] == '/') return path;
  return name_ == "/" ? "/" + path : name_ + "/" + path;
}

void Location::copy_from(const std::string& source_file, const std::string& path) const {
  const Id src(H5Fopen(source_file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!src.valid()) fail("open for copying", source_file, path);
  check_status(H5Ocopy(src.get(), path.c_str(), get(), child_name(path).c_str(), H5P_DEFAULT, H5P_DEFAULT),
               "copy object", source_file, path);
}

bool Location::exists(const std::string& path) const {
  // Walk component by component: H5Lexists fails if an intermediate group is missing.
  std::string partial = (!path.empty() && path[0] == '/') ? "" : ".";
  size_t pos = (!path.empty() && path[0] == '/') ? 1 : 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) {
      partial += "/" + path.substr(pos, next - pos);
      // e < 0: the previous component is a dataset or a dangling link, not a group — the path does not
      // exist (an error on the location itself surfaces on its next use).
      const htri_t e = H5Lexists(get(), partial.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    pos = next + 1;
  }
  return true;
}

// An existing link `path` of `loc` that is not an object of `type` (a dangling soft or external link,
// or a group where a dataset belongs) is an InputError naming it.
namespace {
void require_object_type(const Location& loc, const std::string& path, H5O_type_t type, const std::string& name) {
  H5O_info_t info{};
  const char* wanted = type == H5O_TYPE_DATASET ? "a dataset" : "a group";
  if (H5Oget_info_by_name2(loc.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(fmt::format("'{}': '{}' is a dangling link (its target does not exist), expected {}",
                                 loc.file_path(), name, wanted));
  }
  if (info.type != type)
    throw InputError(fmt::format("'{}': '{}' is {}, expected {}", loc.file_path(), name,
                                 info.type == H5O_TYPE_GROUP     ? "a group"
                                 : info.type == H5O_TYPE_DATASET ? "a dataset"
                                                                 : "a named datatype",
                                 wanted));
}
}  // namespace

Location Location::group(const std::string& path) const {
  if (!exists(path))
    throw InputError(fmt::format("'{}': missing group '{}'", file_path_, child_name(path)));
  require_object_type(*this, path, H5O_TYPE_GROUP, child_name(path));
  Id g(check(H5Gopen2(get(), path.c_str(), H5P_DEFAULT), "open group", file_path_, child_name(path)), H5Gclose);
  return Location(std::move(g), file_path_, child_name(path), comm_);
}

Location Location::create_group(const std::string& path) const {
  Id lcpl = intermediate_groups(file_path_, child_name(path));
  Id g(check(H5Gcreate2(get(), path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), "create group", file_path_,
             child_name(path)),
       H5Gclose);
  return Location(std::move(g), file_path_, child_name(path), comm_);
}

Location Location::require_group(const std::string& path) const {
  return exists(path) ? group(path) : create_group(path);
}

std::vector<std::string> Location::children() const {
  H5G_info_t info;
  check_status(H5Gget_info(get(), &info), "get group info", file_path_, name_);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail("get link name", file_path_, name_);
    std::string s(static_cast<size_t>(n) + 1, '\0');
    if (H5Lget_name_by_idx(get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), s.size(), H5P_DEFAULT) < 0)
      fail("H5Lget_name_by_idx", file_path_, name_);
    s.resize(static_cast<size_t>(n));
    names.push_back(s);
  }
  return names;
}

bool Location::is_group(const std::string& path) const {
  if (!exists(path)) return false;
  H5O_info_t info;
  check_status(H5Oget_info_by_name2(get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), "get object info", file_path_,
               child_name(path));
  return info.type == H5O_TYPE_GROUP;
}

template <class T>
Dataset Location::create_dataset(const std::string& path, const Dims& dims, const Dims& maxdims,
                                 const Dims& chunk, bool fill) const {
  const std::string full = child_name(path);
  Id space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.empty() ? nullptr : maxdims.data()),
                 "create dataspace", file_path_, full),
           H5Sclose);
  if (dims.empty()) space = Id(check(H5Screate(H5S_SCALAR), "H5Screate", file_path_, full), H5Sclose);
  Id lcpl = intermediate_groups(file_path_, full);
  Id dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", file_path_, full), H5Pclose);
  if (!chunk.empty()) check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()),
                                   "set chunk", file_path_, full);
  // Allocate early so that collective writes never need a lazy allocation on one rank only.
  check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time", file_path_, full);
  // Floating-point values never written read back as NaN (e.g. grid points of an unfinished run).
  if (native_type<T>() == H5T_NATIVE_DOUBLE) {
    const double nan = std::nan("");
    check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &nan), "H5Pset_fill_value", file_path_, full);
  }
  check_status(H5Pset_fill_time(dcpl.get(), fill ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER), "H5Pset_fill_time",
               file_path_, full);
  Id d(check(H5Dcreate2(get(), path.c_str(), native_type<T>(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
             "create dataset", file_path_, full),
       H5Dclose);
  return Dataset(std::move(d), file_path_, full, comm_);
}

Dataset Location::dataset(const std::string& path) const {
  if (!exists(path))
    throw InputError(fmt::format("'{}': missing dataset '{}'", file_path_, child_name(path)));
  require_object_type(*this, path, H5O_TYPE_DATASET, child_name(path));
  Id d(check(H5Dopen2(get(), path.c_str(), H5P_DEFAULT), "open dataset", file_path_, child_name(path)), H5Dclose);
  return Dataset(std::move(d), file_path_, child_name(path), comm_);
}

std::vector<std::string> Location::attr_names() const {
  H5O_info_t info{};
  check_status(H5Oget_info2(get(), &info, H5O_INFO_NUM_ATTRS), "get object info", file_path_, name_);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    const ssize_t n = H5Aget_name_by_idx(get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail("get attribute name", file_path_, name_);
    std::string s(static_cast<size_t>(n) + 1, '\0');
    if (H5Aget_name_by_idx(get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), s.size(), H5P_DEFAULT) < 0)
      fail("H5Aget_name_by_idx", file_path_, name_);
    s.resize(static_cast<size_t>(n));
    names.push_back(s);
  }
  return names;
}

bool Location::has_attr(const std::string& name) const {
  const htri_t e = H5Aexists(get(), name.c_str());
  if (e < 0) fail("H5Aexists", file_path_, name_ + "@" + name);
  return e > 0;
}

Id Location::open_attr_for_write(const std::string& name, hid_t type, hid_t space) const {
  if (has_attr(name)) check_status(H5Adelete(get(), name.c_str()), "delete attribute", file_path_, name_ + "@" + name);
  return Id(check(H5Acreate2(get(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "create attribute",
                  file_path_, name_ + "@" + name),
            H5Aclose);
}

template <class T>
void Location::set_numeric_attr(const std::string& name, const T* data, hsize_t n, bool scalar) const {
  Id space(check(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), "H5Screate", file_path_,
                 name_ + "@" + name),
           H5Sclose);
  Id a = open_attr_for_write(name, native_type<T>(), space.get());
  if (n == 0) return;  // an empty array attribute has nothing to write (and H5Awrite rejects a null buffer)
  check_status(H5Awrite(a.get(), native_type<T>(), data), "write attribute", file_path_, name_ + "@" + name);
}

void Location::set_attr(const std::string& name, double v) const { set_numeric_attr<double>(name, &v, 1, true); }
void Location::set_attr(const std::string& name, std::int64_t v) const {
  set_numeric_attr<std::int64_t>(name, &v, 1, true);
}
void Location::set_attr(const std::string& name, const std::vector<double>& v) const {
  set_numeric_attr<double>(name, v.data(), v.size(), false);
}
void Location::set_attr(const std::string& name, const std::vector<std::int64_t>& v) const {
  set_numeric_attr<std::int64_t>(name, v.data(), v.size(), false);
}

void Location::set_attr(const std::string& name, const std::string& v) const {
  Id type = string_type();
  Id space(check(H5Screate(H5S_SCALAR), "H5Screate", file_path_, name_ + "@" + name), H5Sclose);
  Id a = open_attr_for_write(name, type.get(), space.get());
  const char* p = v.c_str();
  check_status(H5Awrite(a.get(), type.get(), &p), "write attribute", file_path_, name_ + "@" + name);
}

void Location::set_attr(const std::string& name, const std::vector<std::string>& v) const {
  Id type = string_type();
  hsize_t n = v.size();
  Id space(check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple", file_path_, name_ + "@" + name), H5Sclose);
  Id a = open_attr_for_write(name, type.get(), space.get());
  std::vector<const char*> ptrs;
  for (const auto& s : v) ptrs.push_back(s.c_str());
  if (n == 0) return;  // empty string array: nothing to write
  check_status(H5Awrite(a.get(), type.get(), ptrs.data()), "write attribute", file_path_, name_ + "@" + name);
}

namespace {
Id open_attr(const Location& loc, const std::string& name) {
  if (!loc.has_attr(name))
    throw InputError(fmt::format("'{}': missing attribute '{}' on '{}'", loc.file_path(), name, loc.name()));
  return Id(check(H5Aopen(loc.get(), name.c_str(), H5P_DEFAULT), "open attribute", loc.file_path(),
                  loc.name() + "@" + name),
            H5Aclose);
}

hsize_t attr_size(const Id& a, const Location& loc, const std::string& name) {
  const std::string object = loc.name() + "@" + name;
  Id space(check(H5Aget_space(a.get()), "H5Aget_space", loc.file_path(), object), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail("H5Sget_simple_extent_npoints", loc.file_path(), object);
  return static_cast<hsize_t>(n);
}

// The class of attribute `a`'s type (H5T_INTEGER, H5T_FLOAT, H5T_STRING, ...), and the type itself.
Id attr_type(const Id& a, const Location& loc, const std::string& name) {
  return Id(check(H5Aget_type(a.get()), "H5Aget_type", loc.file_path(), loc.name() + "@" + name), H5Tclose);
}
H5T_class_t type_class_of(const Id& type, const std::string& file, const std::string& object) {
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_NO_CLASS) fail("H5Tget_class", file, object);
  return cls;
}
bool is_variable_string(const Id& type, const std::string& file, const std::string& object) {
  const htri_t v = H5Tis_variable_str(type.get());
  if (v < 0) fail("H5Tis_variable_str", file, object);
  return v > 0;
}
std::size_t type_size(const Id& type, const std::string& file, const std::string& object) {
  const std::size_t n = H5Tget_size(type.get());
  if (n == 0) fail("H5Tget_size", file, object);
  return n;
}

template <class T>
std::vector<T> read_numeric_attr(const Location& loc, const std::string& name) {
  Id a = open_attr(loc, name);
  Id type = attr_type(a, loc, name);
  const H5T_class_t cls = type_class_of(type, loc.file_path(), loc.name() + "@" + name);
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw InputError(fmt::format("'{}': attribute '{}' on '{}' is not numeric", loc.file_path(), name, loc.name()));
  std::vector<T> v(attr_size(a, loc, name));
  check_status(H5Aread(a.get(), native_type<T>(), v.data()), "read attribute", loc.file_path(), loc.name() + "@" + name);
  return v;
}
}  // namespace

std::vector<double> Location::attr_doubles(const std::string& name) const { return read_numeric_attr<double>(*this, name); }
std::vector<std::int64_t> Location::attr_ints(const std::string& name) const {
  return read_numeric_attr<std::int64_t>(*this, name);
}

double Location::attr_double(const std::string& name) const {
  auto v = attr_doubles(name);
  if (v.size() != 1) throw InputError(fmt::format("'{}': attribute '{}' on '{}' is not a scalar", file_path_, name, name_));
  return v[0];
}

std::int64_t Location::attr_int(const std::string& name) const {
  auto v = attr_ints(name);
  if (v.size() != 1) throw InputError(fmt::format("'{}': attribute '{}' on '{}' is not a scalar", file_path_, name, name_));
  return v[0];
}

std::vector<std::string> Location::attr_strings(const std::string& name) const {
  Id a = open_attr(*this, name);
  const std::string object = name_ + "@" + name;
  Id ftype = attr_type(a, *this, name);
  if (type_class_of(ftype, file_path_, object) != H5T_STRING)
    throw InputError(fmt::format("'{}': attribute '{}' on '{}' is not a string", file_path_, name, name_));
  const hsize_t n = attr_size(a, *this, name);
  std::vector<std::string> out;
  if (is_variable_string(ftype, file_path_, object)) {
    Id mtype = string_type();
    std::vector<char*> ptrs(n, nullptr);
    check_status(H5Aread(a.get(), mtype.get(), ptrs.data()), "read attribute", file_path_, name_ + "@" + name);
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    Id space(check(H5Aget_space(a.get()), "H5Aget_space", file_path_, object), H5Sclose);
    check_status(H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data()), "H5Dvlen_reclaim", file_path_,
                 object);
  } else {
    const size_t len = type_size(ftype, file_path_, object);
    std::vector<char> buf(n * len + 1, '\0');
    Id mtype(check(H5Tcopy(ftype.get()), "H5Tcopy", file_path_, object), H5Tclose);
    check_status(H5Aread(a.get(), mtype.get(), buf.data()), "read attribute", file_path_, name_ + "@" + name);
    for (hsize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      s.erase(s.find_last_not_of(std::string("\0 ", 2)) + 1);
      out.push_back(s);
    }
  }
  return out;
}

std::string Location::attr_string(const std::string& name) const {
  auto v = attr_strings(name);
  if (v.size() != 1) throw InputError(fmt::format("'{}': attribute '{}' on '{}' is not a scalar string", file_path_, name, name_));
  return v[0];
}

template <class T>
void Location::write(const std::string& path, const Dims& dims, const std::vector<T>& data) const {
  if (product(dims) != data.size())
    throw LibraryError(fmt::format("internal: writing {} values into '{}' of {} elements", data.size(),
                                   child_name(path), product(dims)));
  Dataset d = create_dataset<T>(path, dims);
  d.write_root<T>(data.data());
}

void Location::write_strings(const std::string& path, const Dims& dims, const std::vector<std::string>& data) const {
  const std::string full = child_name(path);
  if (product(dims) != data.size())
    throw LibraryError(fmt::format("internal: writing {} strings into '{}' of {} elements", data.size(), full,
                                   product(dims)));
  std::size_t width = 1;
  for (const auto& s : data) width = std::max(width, s.size());
  Id type(check(H5Tcopy(H5T_C_S1), "H5Tcopy", file_path_, full), H5Tclose);
  check_status(H5Tset_size(type.get(), width), "set string size", file_path_, full);
  check_status(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "H5Tset_strpad", file_path_, full);
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", file_path_, full);
  Id space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "create dataspace", file_path_,
                 full),
           H5Sclose);
  Id lcpl = intermediate_groups(file_path_, full);
  Id dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", file_path_, full), H5Pclose);
  check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time", file_path_, full);
  Id d(check(H5Dcreate2(get(), path.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
             "create dataset", file_path_, full),
       H5Dclose);
  std::vector<char> buffer(data.size() * width, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) std::copy(data[i].begin(), data[i].end(), buffer.begin() + i * width);
  const bool root = comm_ == nullptr || comm_->is_root();
  Id fspace = dataset_space(d.get(), file_path_, full);
  hsize_t n = root ? data.size() : 0;
  Id mspace(check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple", file_path_, full), H5Sclose);
  if (n == 0) {
    select_none(fspace, file_path_, full);
    select_none(mspace, file_path_, full);
  }
  Id xfer = collective_xfer(comm_);
  const char dummy = 0;
  check_status(H5Dwrite(d.get(), type.get(), mspace.get(), fspace.get(), xfer.get(), n ? buffer.data() : &dummy),
               "write", file_path_, full);
}

// ---------------------------------------------------------------------------------------------- Dataset

std::vector<std::string> Dataset::read_strings() const {
  Id type(check(H5Dget_type(get()), "H5Dget_type", file_path_, name_), H5Tclose);
  if (type_class_of(type, file_path_, name_) != H5T_STRING)
    throw InputError(fmt::format("'{}': dataset '{}' does not hold strings", file_path_, name_));
  const hsize_t n = product(dims());
  std::vector<std::string> out;
  if (is_variable_string(type, file_path_, name_)) {
    Id mem = string_type();
    std::vector<char*> ptrs(n, nullptr);
    check_status(H5Dread(get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "read", file_path_, name_);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    Id space = dataset_space(get(), file_path_, name_);
    check_status(H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data()), "H5Dvlen_reclaim", file_path_,
                 name_);
    return out;
  }
  const std::size_t width = type_size(type, file_path_, name_);
  std::vector<char> buffer(n * width + 1, '\0');
  check_status(H5Dread(get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), "read", file_path_, name_);
  for (hsize_t i = 0; i < n; ++i) {
    const char* p = buffer.data() + i * width;
    out.emplace_back(p, strnlen(p, width));
  }
  return out;
}

Dims Dataset::dims() const {
  Id space = dataset_space(get(), file_path_, name_);
  const int nd = H5Sget_simple_extent_ndims(space.get());
  if (nd < 0) fail("H5Sget_simple_extent_ndims", file_path_, name_);
  Dims d(static_cast<size_t>(nd));
  if (H5Sget_simple_extent_dims(space.get(), d.data(), nullptr) < 0) fail("H5Sget_simple_extent_dims", file_path_, name_);
  return d;
}

H5T_class_t Dataset::type_class() const {
  Id t(check(H5Dget_type(get()), "H5Dget_type", file_path_, name_), H5Tclose);
  return type_class_of(t, file_path_, name_);
}

std::size_t Dataset::element_size() const {
  Id t(check(H5Dget_type(get()), "H5Dget_type", file_path_, name_), H5Tclose);
  const std::size_t n = H5Tget_size(t.get());
  if (n == 0) throw InputError(fmt::format("HDF5: cannot read the element size of '{}' in '{}'", name_, file_path_));
  return n;
}

template <class T>
void Dataset::write_slab(const Dims& start, const Dims& count, const T* data) const {
  Id fspace = dataset_space(get(), file_path_, name_);
  const hsize_t n = count.empty() ? 1 : product(count);
  if (count.empty()) {
    // scalar dataset
  } else if (n == 0) {
    select_none(fspace, file_path_, name_);
  } else {
    check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                 "select hyperslab", file_path_, name_);
  }
  Id mspace(check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple", file_path_, name_), H5Sclose);
  if (n == 0) select_none(mspace, file_path_, name_);
  Id xfer = collective_xfer(comm_);
  check_status(H5Dwrite(get(), native_type<T>(), mspace.get(), fspace.get(), xfer.get(), data), "write", file_path_,
               name_);
}

namespace {
// MPI-IO counts bytes in an int: one call must stay below 2 GiB (1 GiB by default; tests lower it).
std::size_t max_transfer_bytes = std::size_t{1} << 30;

// Rows per MPI-IO call of a dataset shaped `d`.
std::int64_t rows_per_transfer(const Dims& d, std::size_t element_bytes) {
  std::size_t row_bytes = element_bytes;
  for (std::size_t i = 1; i < d.size(); ++i) row_bytes *= static_cast<std::size_t>(d[i]);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(max_transfer_bytes / std::max<std::size_t>(row_bytes, 1)));
}
}  // namespace

std::size_t set_transfer_limit(std::size_t bytes) {
  const std::size_t old = max_transfer_bytes;
  max_transfer_bytes = std::max<std::size_t>(bytes, 1);
  return old;
}

template <class T>
void Dataset::write_rows(std::int64_t row_begin, std::int64_t rows, const T* data) const {
  Dims d = dims();
  Dims start(d.size(), 0), count = d;
  const std::int64_t per_call = rows_per_transfer(d, sizeof(T));
  // Collective: every rank makes as many calls as the rank with the most rows (empty ones after its end).
  std::int64_t calls = (rows + per_call - 1) / per_call;
  if (comm_ != nullptr) calls = comm_->max(calls);
  std::size_t row_elements = 1;
  for (std::size_t i = 1; i < d.size(); ++i) row_elements *= static_cast<std::size_t>(d[i]);
  for (std::int64_t c = 0; c < std::max<std::int64_t>(calls, 1); ++c) {
    const std::int64_t lo = std::min(rows, c * per_call), hi = std::min(rows, lo + per_call);
    start[0] = static_cast<hsize_t>(row_begin + lo);
    count[0] = static_cast<hsize_t>(hi - lo);
    write_slab<T>(start, count, data + static_cast<std::size_t>(lo) * row_elements);
  }
}

template <class T>
void Dataset::write_root(const T* data) const {
  Dims d = dims();
  const bool root = comm_ == nullptr || comm_->is_root();
  if (d.empty()) {
    // Scalar: every rank takes part; only rank 0's selection is non-empty.
    Id fspace = dataset_space(get(), file_path_, name_);
    Id mspace(check(H5Screate(H5S_SCALAR), "H5Screate", file_path_, name_), H5Sclose);
    if (!root) {
      select_none(fspace, file_path_, name_);
      select_none(mspace, file_path_, name_);
    }
    Id xfer = collective_xfer(comm_);
    T dummy{};
    check_status(H5Dwrite(get(), native_type<T>(), mspace.get(), fspace.get(), xfer.get(), root ? data : &dummy),
                 "write", file_path_, name_);
    return;
  }
  Dims start(d.size(), 0), count = d;
  if (!root) count.assign(d.size(), 0);
  write_slab<T>(start, count, data);
}

template <class T>
std::vector<T> Dataset::read_slab(const Dims& start, const Dims& count) const {
  std::vector<T> out(product(count));
  read_slab_into<T>(start, count, out.data());
  return out;
}

template <class T>
void Dataset::read_slab_into(const Dims& start, const Dims& count, T* out) const {
  Id fspace = dataset_space(get(), file_path_, name_);
  hsize_t n = product(count);
  if (!count.empty())
    check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                 "select hyperslab", file_path_, name_);
  Id mspace(check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple", file_path_, name_), H5Sclose);
  if (n == 0) {
    select_none(fspace, file_path_, name_);
    select_none(mspace, file_path_, name_);
  }
  T dummy{};
  check_status(H5Dread(get(), native_type<T>(), mspace.get(), fspace.get(), H5P_DEFAULT, n ? out : &dummy), "read",
               file_path_, name_);
}

template <class T>
std::vector<T> Dataset::read_rows(std::int64_t row_begin, std::int64_t rows) const {
  Dims d = dims();
  std::size_t row_elements = 1;
  for (std::size_t i = 1; i < d.size(); ++i) row_elements *= static_cast<std::size_t>(d[i]);
  std::vector<T> out(static_cast<std::size_t>(rows) * row_elements);
  read_rows_into<T>(row_begin, rows, out.data());
  return out;
}

void Dataset::read_float32_widened(std::int64_t row_begin, std::int64_t rows, double* out,
                                   const StoredPiece* stored) const {
  // Pieces of ~2 MiB read as stored and widened here: about 20 % less time than HDF5's conversion,
  // which also passes the values through its own buffer (572 MB of float32: 0.15 -> 0.12 s).
  const Dims d = dims();
  std::size_t row_elements = 1;
  for (std::size_t i = 1; i < d.size(); ++i) row_elements *= static_cast<std::size_t>(d[i]);
  const std::int64_t piece =
      std::max<std::int64_t>(1, static_cast<std::int64_t>((std::size_t{2} << 20) / (sizeof(float) * row_elements)));
  std::vector<float> buf;
  for (std::int64_t lo = 0; lo < rows; lo += piece) {
    const std::int64_t m = std::min(piece, rows - lo);
    buf.resize(static_cast<std::size_t>(m) * row_elements);
    read_rows_into<float>(row_begin + lo, m, buf.data());
    if (stored != nullptr) (*stored)(row_begin + lo, m, buf.data(), nullptr);
    std::copy(buf.begin(), buf.end(), out + static_cast<std::size_t>(lo) * row_elements);
  }
}

void Dataset::read_rows_into(std::int64_t row_begin, std::int64_t rows, double* out, const StoredPiece& stored) const {
  if (rows > 0 && type_class() == H5T_FLOAT && element_size() == sizeof(float))
    return read_float32_widened(row_begin, rows, out, &stored);
  read_rows_into<double>(row_begin, rows, out);
  if (rows > 0) stored(row_begin, rows, nullptr, out);
}

template <class T>
void Dataset::read_rows_into(std::int64_t row_begin, std::int64_t rows, T* out) const {
  if constexpr (std::is_same_v<T, double>)
    if (rows > 0 && type_class() == H5T_FLOAT && element_size() == sizeof(float))
      return read_float32_widened(row_begin, rows, out);
  Dims d = dims();
  Dims start(d.size(), 0), count = d;
  std::size_t row_elements = 1;
  for (std::size_t i = 1; i < d.size(); ++i) row_elements *= static_cast<std::size_t>(d[i]);
  const std::int64_t per_call = rows_per_transfer(d, sizeof(T));
  std::int64_t lo = 0;
  do {  // independent reads, each below MPI-IO's 2 GiB
    const std::int64_t hi = std::min(rows, lo + per_call);
    start[0] = static_cast<hsize_t>(row_begin + lo);
    count[0] = static_cast<hsize_t>(hi - lo);
    read_slab_into<T>(start, count, out + static_cast<std::size_t>(lo) * row_elements);
    lo = hi;
  } while (lo < rows);
}

template <class T>
std::vector<T> Dataset::read_all() const {
  Dims d = dims();
  if (d.empty()) {
    std::vector<T> out(1);
    check_status(H5Dread(get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read", file_path_, name_);
    return out;
  }
  return read_slab<T>(Dims(d.size(), 0), d);
}

void Dataset::extend(const Dims& d) const {
  check_status(H5Dset_extent(get(), d.data()), "extend dataset", file_path_, name_);
}

// ---------------------------------------------------------------------------------------------- File

File::File(const std::string& path, const Comm& comm, Mode mode) {
  file_path_ = path;
  name_ = "/";
  comm_ = &comm;
  Id fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path, "/"), H5Pclose);
  if (comm.size() == 1) {
    // One rank: POSIX I/O, without loading MPI-IO's components (docs/benchmarks.md, "Start-up").
    check_status(H5Pset_fapl_sec2(fapl.get()), "set POSIX I/O", path, "/");
    // No file lock, as with MPI-IO (which takes none): a lock would be new behaviour, and it fails on
    // file systems without flock (common on clusters).
    check_status(H5Pset_file_locking(fapl.get(), false, true), "disable file locking", path, "/");
    // MPI-IO's close degree: H5Fclose fails while objects are open (File::close relies on it).
    check_status(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_SEMI), "set the close degree", path, "/");
  } else {
    check_status(H5Pset_fapl_mpio(fapl.get(), comm.get(), MPI_INFO_NULL), "set MPI-IO", path, "/");
  }
  hid_t f = H5I_INVALID_HID;
  if (mode == Mode::create) {
    f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
    if (f < 0)
      throw InputError(fmt::format("cannot create output file '{}' (is the directory writable?): {}", path, error_stack()));
  } else {
    if (!std::filesystem::exists(path)) throw InputError(fmt::format("file '{}' does not exist", path));
    f = H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl.get());
    if (f < 0) throw InputError(fmt::format("cannot open '{}' as an HDF5 file: {}", path, error_stack()));
  }
  id_ = Id(f, H5Fclose);
}

File::~File() {
  // Closing is collective. A rank unwinding from a failed HDF5 call (e.g. a write that found the disk
  // full on this rank only) must not wait here for ranks that are in another collective call: it
  // leaves the file open and goes on to `main`, which aborts every rank with the message (abort_all).
  // Errors that every rank throws alike (validated input) still close the file.
  // The same for a RankFailure (core/error.hpp): another rank-local failure.
  if (id_.valid() && (hdf5_call_failed || rank_failed()) && std::uncaught_exceptions() > 0 && comm_ != nullptr &&
      comm_->size() > 1)
    id_.release();
}

void File::flush() const {
  if (id_.valid()) check_status(H5Fflush(get(), H5F_SCOPE_GLOBAL), "flush", file_path_, "/");
}

void File::close() {
  if (!id_.valid()) return;
  // With MPI-IO the close degree is "semi": H5Fclose fails while objects are open. A file that did
  // not close is not complete, so it must not be committed; it stays owned, and the destructor
  // closes it once the open objects are gone.
  if (H5Fclose(id_.get()) < 0) {
    hdf5_call_failed = true;
    throw LibraryError(fmt::format("HDF5: cannot close '{}' (an object in it is still open?): {}{}", file_path_,
                                   error_stack(), space_reason(file_path_)));
  }
  id_.release();
}

Location Dataset::attributes() const {
  Id o(check(H5Oopen(get(), ".", H5P_DEFAULT), "open object", file_path_, name_), H5Oclose);
  return Location(std::move(o), file_path_, name_, comm_);
}

// ---------------------------------------------------------------------------------------------- OutputFile

void check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::exists(dir, ec)) fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec) || access(dir.c_str(), W_OK) != 0)
    throw InputError(fmt::format("output path '{}' is not writable (directory '{}' missing or read-only)", path,
                                 dir.string()));
  if (fs::is_directory(p, ec)) throw InputError(fmt::format("output path '{}' is a directory", path));
}

namespace {
std::string checked_partial_path(const std::string& path) {
  check_writable(path);
  return OutputFile::partial_path(path);
}
}  // namespace

namespace {

// True if `a` and `b` name the same file: the same device and inode if both exist, else the same
// canonical path (symlinks, `.` and `..` resolved).
bool same_file(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ea, eb;
  const fs::path ca = fs::weakly_canonical(a, ea), cb = fs::weakly_canonical(b, eb);
  return !ea && !eb && ca == cb;
}

bool non_empty_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

// Rank 0's checks of OutputClaim; returns the error message ("" if the claim is granted) and sets
// `fd` to the locked `<path>.partial`.
std::string claim_output(const std::string& path, const OutputPolicy& policy, int& fd, bool& partial_existed) {
  const std::string partial = OutputFile::partial_path(path);
  try {
    check_writable(path);
  } catch (const InputError& e) {
    return e.what();
  }
  for (const auto& input : policy.inputs)
    if (same_file(path, input) || same_file(partial, input))
      return fmt::format("the output '{}' is the input '{}': refusing to overwrite an input (choose another -o)", path,
                         input);
  const bool complete = std::filesystem::exists(path);
  if (complete && !policy.overwrite)
    return policy.resume
               ? fmt::format("'{}' is already complete: --resume only continues an interrupted run ('{}'); give "
                             "--overwrite to compute it again",
                             path, partial)
               : fmt::format("the output '{}' already exists: give --overwrite to replace it (or choose another -o)",
                             path);
  partial_existed = non_empty_file(partial);
  fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot create '{}': {}", partial, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    ::close(fd);
    fd = -1;
    return fmt::format("another run is writing '{}' (it holds the lock on '{}'): wait for it to finish or choose "
                       "another -o",
                       path, partial);
  }
  // Other flock failures (a file system without locks) leave the run unlocked, as before.
  return "";
}

}  // namespace

OutputClaim::OutputClaim(const std::string& path, const Comm& comm, const OutputPolicy& policy) : path_(path) {
  std::string error;
  if (comm.is_root()) error = claim_output(path, policy, fd_, partial_existed_);
  comm.bcast(error);
  double existed = partial_existed_ ? 1 : 0;
  comm.bcast(&existed, 1);
  partial_existed_ = existed != 0;
  if (!error.empty()) throw InputError(error);
}

OutputClaim::OutputClaim(OutputClaim&& o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), partial_existed_(o.partial_existed_) {
  o.fd_ = -1;
}

OutputClaim::~OutputClaim() {
  if (fd_ < 0) return;
  // A `.partial` that is still the empty file this claim created (the run failed before writing) goes.
  struct stat mine {}, named {};
  const std::string partial = OutputFile::partial_path(path_);
  if (::fstat(fd_, &mine) == 0 && mine.st_size == 0 && ::stat(partial.c_str(), &named) == 0 &&
      mine.st_dev == named.st_dev && mine.st_ino == named.st_ino)
    ::unlink(partial.c_str());
  ::close(fd_);  // releases the lock
}

OutputFile::OutputFile(const std::string& path, const Comm& comm, bool resume)
    : path_(path), comm_(comm),
      file_(checked_partial_path(path), comm,
            resume && non_empty_file(partial_path(path)) ? File::Mode::read_write : File::Mode::create) {}

void OutputFile::commit() {
  file_.flush();
  file_.close();
  comm_.barrier();
  if (comm_.is_root()) {
    std::error_code ec;
    std::filesystem::rename(partial_path(path_), path_, ec);
    if (ec) throw InputError(fmt::format("cannot rename '{}' to '{}': {}", partial_path(path_), path_, ec.message()));
  }
  comm_.barrier();
}

// ---------------------------------------------------------------------------------------------- instantiations

#define ATTN_H5_INSTANTIATE(T)                                                                                    \
  template Dataset Location::create_dataset<T>(const std::string&, const Dims&, const Dims&, const Dims&, bool) const; \
  template void Location::write<T>(const std::string&, const Dims&, const std::vector<T>&) const;               \
  template void Dataset::write_slab<T>(const Dims&, const Dims&, const T*) const;                                \
  template void Dataset::write_rows<T>(std::int64_t, std::int64_t, const T*) const;                              \
  template void Dataset::write_root<T>(const T*) const;                                                          \
  template std::vector<T> Dataset::read_slab<T>(const Dims&, const Dims&) const;                                 \
  template std::vector<T> Dataset::read_rows<T>(std::int64_t, std::int64_t) const;                               \
  template void Dataset::read_rows_into<T>(std::int64_t, std::int64_t, T*) const;                               \
  template void Dataset::read_slab_into<T>(const Dims&, const Dims&, T*) const;                               \
  template std::vector<T> Dataset::read_all<T>() const;

ATTN_H5_INSTANTIATE(double)
ATTN_H5_INSTANTIATE(float)
ATTN_H5_INSTANTIATE(std::int64_t)
ATTN_H5_INSTANTIATE(std::int8_t)
ATTN_H5_INSTANTIATE(int)
ATTN_H5_INSTANTIATE(std::uint64_t)
ATTN_H5_INSTANTIATE(std::uint8_t)

}  // namespace attnpaths::h5
