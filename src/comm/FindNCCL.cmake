# FindNCCL: locates the NCCL header and library.
#   Where, in this order: NCCL_ROOT (CMake variable or environment), NCCL_HOME, the CUDA Toolkit
#   (CUDAToolkit_LIBRARY_ROOT, its include directory's parent), the pip wheel (nvidia-nccl-cu12/-cu13:
#   site-packages/nvidia/nccl/{include,lib}, found by asking the python3 on PATH, or NCCL_PYTHON: variable or environment), and
#   /usr/local/cuda. The library may be libnccl.so or only libnccl.so.2 (the wheel ships no unversioned
#   link).
#   Result: NCCL_FOUND, NCCL_INCLUDE_DIR, NCCL_LIBRARY, NCCL_VERSION and the imported target NCCL::NCCL.
set(_nccl_hints ${NCCL_ROOT} $ENV{NCCL_ROOT} $ENV{NCCL_HOME})
if(CUDAToolkit_LIBRARY_ROOT)
  list(APPEND _nccl_hints ${CUDAToolkit_LIBRARY_ROOT})
endif()
if(CUDAToolkit_INCLUDE_DIRS)
  list(GET CUDAToolkit_INCLUDE_DIRS 0 _nccl_cuda_inc)
  get_filename_component(_nccl_cuda_root "${_nccl_cuda_inc}" DIRECTORY)
  list(APPEND _nccl_hints ${_nccl_cuda_root})
endif()

# The wheel's directory: where `import nvidia.nccl` points (a namespace package: __path__, no
# __file__), else nvidia/nccl under each site-packages directory of that Python.
if(NOT NCCL_PYTHON AND DEFINED ENV{NCCL_PYTHON})
  set(NCCL_PYTHON "$ENV{NCCL_PYTHON}")
endif()
if(NCCL_PYTHON)
  set(_nccl_python "${NCCL_PYTHON}")
else()
  find_program(_nccl_python NAMES python3 NO_CACHE NO_PACKAGE_ROOT_PATH NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH
    NO_CMAKE_SYSTEM_PATH NO_CMAKE_INSTALL_PREFIX)
endif()
if(_nccl_python)
  execute_process(COMMAND "${_nccl_python}" -c [=[
import os, site, sysconfig
dirs = []
try:
    import nvidia.nccl as m
    dirs += list(getattr(m, "__path__", []))
except Exception:
    pass
roots = [sysconfig.get_paths().get(k) for k in ("purelib", "platlib")]
try:
    roots += site.getsitepackages() + [site.getusersitepackages()]
except Exception:
    pass
dirs += [os.path.join(r, "nvidia", "nccl") for r in roots if r]
seen = []
for d in dirs:
    if os.path.isdir(d) and d not in seen:
        seen.append(d)
print(";".join(seen), end="")
]=] OUTPUT_VARIABLE _nccl_wheel RESULT_VARIABLE _nccl_rc ERROR_QUIET TIMEOUT 60)
  if(_nccl_rc EQUAL 0 AND _nccl_wheel)
    list(APPEND _nccl_hints ${_nccl_wheel})
  endif()
endif()
list(APPEND _nccl_hints /usr/local/cuda)

find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_hints} PATH_SUFFIXES include)
# NAMES_PER_DIR: the first directory holding either name wins, so a wheel's libnccl.so.2 is not passed
# over for a libnccl.so further down the list.
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${_nccl_hints}
  PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)

if(NCCL_INCLUDE_DIR AND EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_ver REGEX "^#define NCCL_(MAJOR|MINOR|PATCH)[ \t]+[0-9]+")
  string(REGEX REPLACE ".*NCCL_MAJOR[ \t]+([0-9]+).*" "\\1" _nccl_major "${_nccl_ver}")
  string(REGEX REPLACE ".*NCCL_MINOR[ \t]+([0-9]+).*" "\\1" _nccl_minor "${_nccl_ver}")
  string(REGEX REPLACE ".*NCCL_PATCH[ \t]+([0-9]+).*" "\\1" _nccl_patch "${_nccl_ver}")
  set(NCCL_VERSION "${_nccl_major}.${_nccl_minor}.${_nccl_patch}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND AND NOT TARGET NCCL::NCCL)
  add_library(NCCL::NCCL UNKNOWN IMPORTED)
  set_target_properties(NCCL::NCCL PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
