# Kernel fast path build support: finds clang's BPF target, bpftool and libbpf,
# and defines sg_bpf_skeleton() to compile a *.bpf.c program and generate its
# libbpf skeleton.
#
#   SYNGUARD_BPF=AUTO  build the BPF parts when everything is found (default)
#   SYNGUARD_BPF=ON    fail the configuration when something is missing
#   SYNGUARD_BPF=OFF   never build them
#
# Sets SYNGUARD_HAVE_BPF and, when it is false, SYNGUARD_BPF_WHY_NOT. Programs
# include vmlinux.h, generated at build time from the kernel's BTF
# (SYNGUARD_BPF_VMLINUX_BTF): the kfuncs and kernel structures of the fast path
# (bpf_sk_assign_tcp_reqsk, struct bpf_tcp_req_attrs) have no uapi header.

set(SYNGUARD_BPF AUTO CACHE STRING "Build the kernel fast path (BPF): AUTO, ON or OFF")
set_property(CACHE SYNGUARD_BPF PROPERTY STRINGS AUTO ON OFF)
set(SYNGUARD_BPF_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH
    "Kernel BTF that vmlinux.h is generated from")

set(SYNGUARD_HAVE_BPF FALSE)
set(SYNGUARD_BPF_WHY_NOT "")

function(_sg_bpf_detect)
  string(TOUPPER "${SYNGUARD_BPF}" _mode)
  if(_mode STREQUAL "OFF")
    set(SYNGUARD_BPF_WHY_NOT "disabled (SYNGUARD_BPF=OFF)" PARENT_SCOPE)
    return()
  endif()
  set(_why "")
  find_program(SG_BPF_CLANG NAMES clang clang-16 clang-15 clang-14)
  find_program(SG_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin /usr/local/sbin)
  pkg_check_modules(LIBBPF QUIET IMPORTED_TARGET GLOBAL libbpf>=1.0)
  if(NOT SG_BPF_CLANG)
    list(APPEND _why "clang not found")
  else()
    set(_probe ${CMAKE_BINARY_DIR}/CMakeFiles/sg_bpf_probe.c)
    file(WRITE ${_probe} "int sg_probe(void) { return 0; }\n")
    execute_process(COMMAND ${SG_BPF_CLANG} -O2 -target bpf -c ${_probe} -o ${_probe}.o
                    RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(NOT _rc EQUAL 0)
      list(APPEND _why "${SG_BPF_CLANG} has no BPF target")
    endif()
  endif()
  if(NOT SG_BPFTOOL)
    list(APPEND _why "bpftool not found (Debian: bpftool)")
  endif()
  if(NOT LIBBPF_FOUND)
    list(APPEND _why "libbpf >= 1.0 not found by pkg-config (Debian: libbpf-dev)")
  endif()
  if(NOT EXISTS "${SYNGUARD_BPF_VMLINUX_BTF}")
    list(APPEND _why "no kernel BTF at ${SYNGUARD_BPF_VMLINUX_BTF}")
  endif()
  if(_why)
    list(JOIN _why "; " _why)
    if(_mode STREQUAL "ON")
      message(FATAL_ERROR "SYNGUARD_BPF=ON but: ${_why}")
    endif()
    set(SYNGUARD_BPF_WHY_NOT "${_why}" PARENT_SCOPE)
    return()
  endif()
  set(SYNGUARD_HAVE_BPF TRUE PARENT_SCOPE)
endfunction()

_sg_bpf_detect()
if(SYNGUARD_HAVE_BPF)
  message(STATUS "BPF fast path: on (${SG_BPF_CLANG}, ${SG_BPFTOOL}, libbpf ${LIBBPF_VERSION})")
  set(SG_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf)
  file(MAKE_DIRECTORY ${SG_BPF_GEN_DIR})
  add_custom_command(
    OUTPUT ${SG_BPF_GEN_DIR}/vmlinux.h
    COMMAND ${SG_BPFTOOL} btf dump file ${SYNGUARD_BPF_VMLINUX_BTF} format c
            > ${SG_BPF_GEN_DIR}/vmlinux.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${SG_BPF_GEN_DIR}/vmlinux.h.tmp ${SG_BPF_GEN_DIR}/vmlinux.h
    COMMENT "Generating vmlinux.h from ${SYNGUARD_BPF_VMLINUX_BTF}"
    VERBATIM)
  add_custom_target(sg_bpf_vmlinux DEPENDS ${SG_BPF_GEN_DIR}/vmlinux.h)
  # libbpf's bpf_tracing.h wants the kernel's name of the architecture.
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _arch)
  if(_arch MATCHES "^(x86_64|amd64|i.86)$")
    set(SG_BPF_ARCH x86)
  elseif(_arch MATCHES "^(aarch64|arm64)$")
    set(SG_BPF_ARCH arm64)
  elseif(_arch MATCHES "^ppc64")
    set(SG_BPF_ARCH powerpc)
  elseif(_arch MATCHES "^riscv")
    set(SG_BPF_ARCH riscv)
  elseif(_arch MATCHES "^s390")
    set(SG_BPF_ARCH s390)
  else()
    set(SG_BPF_ARCH ${_arch})
  endif()
else()
  message(STATUS "BPF fast path: off: ${SYNGUARD_BPF_WHY_NOT}")
endif()

# sg_bpf_skeleton(NAME SOURCE): compiles SOURCE (a *.bpf.c) into NAME.bpf.o and
# generates NAME.skel.h; defines the INTERFACE target NAME_skel that puts the
# skeleton on the include path and links libbpf.
function(sg_bpf_skeleton name src)
  get_filename_component(_src ${src} ABSOLUTE)
  set(_obj ${SG_BPF_GEN_DIR}/${name}.bpf.o)
  set(_skel ${SG_BPF_GEN_DIR}/${name}.skel.h)
  set(_incs -I${SG_BPF_GEN_DIR} -I${PROJECT_SOURCE_DIR}/lib -I${PROJECT_SOURCE_DIR}/daemon/bpf)
  foreach(_d ${LIBBPF_INCLUDE_DIRS})
    list(APPEND _incs -I${_d})
  endforeach()
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${SG_BPF_CLANG} -O2 -g -target bpf -D__TARGET_ARCH_${SG_BPF_ARCH} -Wall -Werror ${_incs}
            -MD -MF ${_obj}.d -c ${_src} -o ${_obj}
    DEPENDS ${_src} sg_bpf_vmlinux
    DEPFILE ${_obj}.d
    COMMENT "Compiling BPF program ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${SG_BPFTOOL} gen skeleton ${_obj} name ${name} > ${_skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${_skel}.tmp ${_skel}
    DEPENDS ${_obj}
    COMMENT "Generating BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${_skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${SG_BPF_GEN_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
