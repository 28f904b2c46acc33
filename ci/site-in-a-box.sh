#!/usr/bin/env bash
# A site in a box: a Lmod module tree that stands in for a site's software stack with
# Debian's packages, and a layout that builds in it, so that a site's recipes (imported from
# its build_wheel.sh configs) can be planned and built on a laptop-sized machine.
#
#   ci/site-in-a-box.sh [--install] DIR [RECIPES_DIR]
#
# Writes (and only writes: no root needed):
#   DIR/modules/       Lua modulefiles: StdEnv/2023, gcc, openmpi, hdf5, hdf5-mpi, netcdf, geos,
#                      proj, gdal, fftw, boost, eigen, cmake, rust, java, postgresql, flexiblas
#                      (OpenBLAS), gsl, tbb, arrow, each at the version of its Debian package
#                      and the default of its name, setting what the Alliance's modules set
#                      (EBROOT<NAME>, EBVERSION<NAME>, CC/CXX/FC, HDF5_DIR, MPICC, search paths);
#                      cuda and every other module name the recipes of RECIPES_DIR load, as
#                      modules that fail with "not in this box"
#   DIR/software/      the prefixes the box makes itself (flexiblas: OpenBLAS under its names)
#   DIR/layout.toml    the embedded layout (wheelhouse-layout.toml) with `[modules]` (Lmod,
#                      modulepath DIR/modules), its default layer entered by
#                      `module load StdEnv/2023`, root DIR/wheelhouse, recipes RECIPES_DIR
#   DIR/box.txt        what the box has, and what it has not (also printed)
#
# A module whose Debian package is not installed is still written, at the version Debian
# offers, but fails to load: "not in this box: gdal/3.6.2: install Debian's libgdal-dev ...".
# Install the packages and run the script again (`--install` prints the apt-get line for the
# packages the box uses that are missing; it runs nothing).
#
# Versions: a recipe may load `name` or `name/version`. The box's version is the default of its
# name; `name/V` with the same major version as the box's (gcc/12.3 in a box with gcc 12.2.0)
# is an alias of it (.modulerc.lua), a prefix of it (gcc/12) is Lmod's own match, and any other
# version (gcc/9.3.0, StdEnv/2020) is a module that fails with "not in this box".
#
# See docs/migrating.md, "Trying wheelwright on your site's configs on a laptop".
set -euo pipefail

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

install_only=0
arguments=()
for argument in "$@"; do
    case "$argument" in
        --install) install_only=1 ;;
        -h | --help) usage ;;
        -*) echo "site-in-a-box: unknown option $argument" >&2; usage ;;
        *) arguments+=("$argument") ;;
    esac
done
if [ "$install_only" -eq 0 ] && { [ "${#arguments[@]}" -lt 1 ] || [ "${#arguments[@]}" -gt 2 ]; }; then
    usage
fi
box="${arguments[0]:-}"
recipes="${arguments[1]:-}"
script_dir="$(cd "$(dirname "$0")" && pwd)"
if [ -n "$box" ] && [ "$install_only" -eq 0 ]; then
    mkdir -p "$box"
    box="$(cd "$box" && pwd)"
fi
if [ -n "$recipes" ]; then
    [ -d "$recipes" ] || { echo "site-in-a-box: $recipes: not a directory" >&2; exit 2; }
    recipes="$(cd "$recipes" && pwd)"
fi

multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
multiarch="${multiarch:-x86_64-linux-gnu}"
libdir="/usr/lib/$multiarch"

# --- Debian's packages -----------------------------------------------------------------------

# Every Debian package the box may use, asked about once (apt-cache is slow): installed
# versions and the candidates apt would install.
declare -A installed_version=() candidate_version=()
debian_facts() {
    local package status version
    while read -r package status version; do
        [ "$status" = installed ] && installed_version[$package]="$version"
    done < <(dpkg-query -W -f='${Package} ${db:Status-Status} ${Version}\n' "$@" 2>/dev/null || true)
    while read -r package version; do
        [ "$version" = "(none)" ] || candidate_version[$package]="$version"
    done < <(LC_ALL=C apt-cache policy "$@" 2>/dev/null | awk '/^[^ ]/ { sub(/:$/, ""); package = $1 } /^ *Candidate:/ { print package, $2 }' || true)
}

installed() {
    local package
    for package in "$@"; do
        [ -n "${installed_version[$package]:-}" ] || return 1
    done
}

# Whether apt knows the package at all (installed, or a candidate to install).
in_debian() {
    installed "$1" || [ -n "${candidate_version[$1]:-}" ]
}

# The version of a Debian package as upstream spells it (1:4.9.0-3+b1 -> 4.9.0, 1.74.0.3 ->
# 1.74.0): installed, else the candidate apt would install, else nothing.
debian_version() {
    local version="${installed_version[$1]:-${candidate_version[$1]:-}}"
    [ -n "$version" ] || return 0
    version="${version#*:}"
    version="${version%-*}"
    version="${version%%[+~]*}"
    printf '%s\n' "$version" | cut -d. -f1-3
}

# --- the box's modules ----------------------------------------------------------------------
#
# One call per module: NAME EBNAME ROOT VERSION_PACKAGE "PACKAGES" GUARD [LUA]...
#   EBNAME   the EasyBuild name (EBROOT<EBNAME>, EBVERSION<EBNAME>); "-" for none
#   ROOT     its prefix (EBROOT<EBNAME>)
#   VERSION_PACKAGE  the Debian package whose version the module has
#   PACKAGES the Debian packages it needs (all installed, or it is not in this box)
#   GUARD    a file the module checks when it loads (a package removed since)
#   LUA      the module's other lines

names=()
declare -A version_of=() packages_of=() guard_of=() root_of=() ebname_of=() lua_of=()

module() {
    local name="$1" ebname="$2" root="$3" version_package="$4" packages="$5" guard="$6"
    shift 6
    names+=("$name")
    ebname_of[$name]="$ebname"
    root_of[$name]="$root"
    packages_of[$name]="$packages"
    guard_of[$name]="$guard"
    version_of[$name]="$(debian_version "$version_package")"
    local lines=""
    local line
    for line in "$@"; do
        lines+="$line"$'\n'
    done
    lua_of[$name]="$lines"
}

# Lua string literal.
lua() {
    local text="${1//\\/\\\\}"
    printf '"%s"' "${text//\"/\\\"}"
}

hdf5_serial="$libdir/hdf5/serial"
hdf5_openmpi="$libdir/hdf5/openmpi"
java_home="/usr/lib/jvm/default-java"
java_package="default-jdk-headless"
if javac="$(readlink -f "$(command -v javac 2>/dev/null)" 2>/dev/null)" && [ -n "$javac" ] && [ -x "$javac" ]; then
    java_home="${javac%/bin/javac}"
    java_package="$(dpkg-query -S "$javac" 2>/dev/null | head -n 1 | cut -d: -f1 || true)"
    java_package="${java_package:-default-jdk-headless}"
fi
debian_facts gcc g++ gfortran libopenmpi-dev openmpi-bin libhdf5-dev libhdf5-openmpi-dev \
    libnetcdf-dev libgeos-dev libproj-dev libgdal-dev libfftw3-dev libboost-dev libeigen3-dev cmake \
    rustc cargo "$java_package" libpq-dev libopenblas-dev libgsl-dev libtbb-dev libarrow-dev
gcc_lines=("setenv(\"CC\", \"gcc\")" "setenv(\"CXX\", \"g++\")" "setenv(\"EBROOTGCCCORE\", \"/usr\")")
if installed gfortran; then
    gcc_lines+=("setenv(\"FC\", \"gfortran\")" "setenv(\"F77\", \"gfortran\")" "setenv(\"F90\", \"gfortran\")")
fi

module StdEnv - /usr - "" "" \
    'setenv("EBVERSIONGENTOO", "2023")' \
    'setenv("EBROOTGENTOO", "/usr")'
version_of[StdEnv]="2023"
module gcc GCC /usr gcc "gcc g++" /usr/bin/gcc "${gcc_lines[@]}"
module openmpi OPENMPI "$libdir/openmpi" libopenmpi-dev "libopenmpi-dev openmpi-bin" /usr/bin/mpicc \
    'setenv("MPICC", "mpicc")' 'setenv("MPICXX", "mpicxx")' 'setenv("MPIFC", "mpifort")'
for variant in hdf5 hdf5-mpi; do
    if [ "$variant" = hdf5 ]; then prefix="$hdf5_serial"; package=libhdf5-dev; else prefix="$hdf5_openmpi"; package=libhdf5-openmpi-dev; fi
    extra=()
    [ "$variant" = hdf5-mpi ] && extra=('depends_on("openmpi")')
    module "$variant" HDF5 "$prefix" "$package" "$package" "$prefix/include/hdf5.h" \
        'family("hdf5")' "${extra[@]}" \
        "setenv(\"HDF5_DIR\", $(lua "$prefix"))" \
        "prepend_path(\"CPATH\", $(lua "$prefix/include"))" \
        "prepend_path(\"LIBRARY_PATH\", $(lua "$prefix/lib"))" \
        "prepend_path(\"LD_LIBRARY_PATH\", $(lua "$prefix/lib"))" \
        "prepend_path(\"CMAKE_PREFIX_PATH\", $(lua "$prefix"))"
done
module netcdf NETCDF /usr libnetcdf-dev libnetcdf-dev /usr/include/netcdf.h
module geos GEOS /usr libgeos-dev libgeos-dev /usr/include/geos_c.h
module proj PROJ /usr libproj-dev libproj-dev /usr/include/proj.h
module gdal GDAL /usr libgdal-dev libgdal-dev /usr/include/gdal/gdal.h \
    'prepend_path("CPATH", "/usr/include/gdal")'
module fftw FFTW /usr libfftw3-dev libfftw3-dev /usr/include/fftw3.h
module boost BOOST /usr libboost-dev libboost-dev /usr/include/boost/version.hpp
module eigen EIGEN /usr libeigen3-dev libeigen3-dev /usr/include/eigen3/Eigen/Core \
    'prepend_path("CPATH", "/usr/include/eigen3")'
module cmake CMAKE /usr cmake cmake /usr/bin/cmake
module rust RUST /usr rustc "rustc cargo" /usr/bin/rustc
module java JAVA "$java_home" "$java_package" "$java_package" "$java_home/bin/javac" \
    "setenv(\"JAVA_HOME\", $(lua "$java_home"))" \
    "prepend_path(\"PATH\", $(lua "$java_home/bin"))"
module postgresql POSTGRESQL /usr libpq-dev libpq-dev /usr/bin/pg_config
flexiblas_prefix="$box/software/flexiblas"
module flexiblas FLEXIBLAS "$flexiblas_prefix" libopenblas-dev libopenblas-dev "$libdir/libopenblas.so" \
    "prepend_path(\"CPATH\", $(lua "$flexiblas_prefix/include"))" \
    "prepend_path(\"LIBRARY_PATH\", $(lua "$flexiblas_prefix/lib"))" \
    "prepend_path(\"LD_LIBRARY_PATH\", $(lua "$flexiblas_prefix/lib"))" \
    "prepend_path(\"PKG_CONFIG_PATH\", $(lua "$flexiblas_prefix/lib/pkgconfig"))" \
    "prepend_path(\"CMAKE_PREFIX_PATH\", $(lua "$flexiblas_prefix"))"
module gsl GSL /usr libgsl-dev libgsl-dev /usr/include/gsl/gsl_version.h
module tbb TBB /usr libtbb-dev libtbb-dev /usr/include/oneapi/tbb.h 'setenv("TBBROOT", "/usr")'
module arrow ARROW /usr libarrow-dev libarrow-dev /usr/include/arrow/api.h

# A Java version is its major number (default-jdk-headless 2:1.17-74 -> 17).
[ "${version_of[java]}" = "${version_of[java]#1.}" ] || version_of[java]="${version_of[java]#1.}"

# What to do instead, for a module Debian does not have.
declare -A debian_lacks=(
    [arrow]=" (pyarrow's wheels from PyPI bundle Arrow: a recipe can adopt them, docs/adopt.md)"
)

# Not in the box whatever is installed: CUDA (no GPU, and Debian's toolkit is in non-free and
# not the site's), with its companions.
declare -A absent_reason=(
    [cuda]="the box has no CUDA (no GPU here; Debian's nvidia-cuda-toolkit is non-free and not the site's CUDA): build CUDA packages at the site"
    [cudnn]="the box has no CUDA, so no cuDNN"
    [nccl]="the box has no CUDA, so no NCCL"
)

# --- --install: the apt-get line ----------------------------------------------------------------

missing_packages=()
for name in "${names[@]}"; do
    for package in ${packages_of[$name]}; do
        installed "$package" || ! in_debian "$package" || missing_packages+=("$package")
    done
done
installed gfortran || missing_packages+=(gfortran)
if [ "$install_only" -eq 1 ]; then
    if [ "${#missing_packages[@]}" -eq 0 ]; then
        echo "# every Debian package the box uses is installed"
    else
        echo "apt-get install --no-install-recommends $(printf '%s\n' "${missing_packages[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')"
    fi
    exit 0
fi

# --- the recipes' module names -----------------------------------------------------------------

# Every module name the recipes' `modules:` and `build_modules:` lists name (also inside
# `versions:` entries), one per line: flow lists ([a, "b"]) and block lists (- a), quoted or
# not; template conditions ({% if layer == "gentoo2023" %}gcc/12.3{% endif %}) give every name
# they may render to; names made by templates ({{ ... }}) are left out.
recipe_modules() {
    awk '
        function emit(item) {
            gsub(/^[ \t]+|[ \t]+$/, "", item)
            if (item ~ /^".*"$/) { item = substr(item, 2, length(item) - 2); gsub(/\\"/, "\"", item) }
            else if (item ~ /^\047.*\047$/) { item = substr(item, 2, length(item) - 2) }
            gsub(/\{%[^%]*%\}/, " ", item)
            n = split(item, words, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (words[i] ~ /^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/) print words[i]
        }
        /^[ \t]*#/ || /^[ \t]*$/ { next }
        {
            if (match($0, /^[ \t]*(- )?(build_)?modules:[ \t]*/)) {
                rest = substr($0, RLENGTH + 1)
                indent = match($0, /[^ \t-]/) - 1
                sub(/[ \t]+#.*$/, "", rest)
                inlist = 0
                if (rest ~ /^\[/) {
                    sub(/^\[/, "", rest); sub(/\][ \t]*$/, "", rest)
                    n2 = split(rest, items, ",")
                    for (j = 1; j <= n2; j++) emit(items[j])
                } else if (rest == "") {
                    inlist = 1
                }
                next
            }
            if (inlist) {
                if (match($0, /^[ \t]*- /) && RLENGTH - 2 >= indent) { emit(substr($0, RLENGTH + 1)); next }
                inlist = 0
            }
        }
    ' "$@" | sort -u
}

named=()
if [ -n "$recipes" ]; then
    shopt -s nullglob
    recipe_files=("$recipes"/*.yaml)
    shopt -u nullglob
    if [ "${#recipe_files[@]}" -eq 0 ]; then
        echo "site-in-a-box: $recipes has no *.yaml recipes" >&2
        exit 2
    fi
    mapfile -t named < <(recipe_modules "${recipe_files[@]}")
fi

# --- writing the tree --------------------------------------------------------------------------

if [ -e "$box/modules" ] && [ ! -e "$box/.site-in-a-box" ]; then
    echo "site-in-a-box: $box/modules exists and was not written by this script: choose another DIR" >&2
    exit 1
fi
rm -rf "$box/modules" "$box/software"
mkdir -p "$box/modules"
echo "written by ci/site-in-a-box.sh: its modules/ and software/ are rewritten on each run" > "$box/.site-in-a-box"

report=()
count() { if [ "$1" -eq 1 ]; then echo "1 $2"; else echo "$1 $2s"; fi; }
# shellcheck disable=SC2059 # the format is the caller's
note() { report+=("$(printf "$@")"); }

write_file() {
    mkdir -p "$(dirname "$1")"
    printf '%s' "$2" > "$1"
}

# The message of a module that is not in the box.
not_in_box() {
    printf 'LmodError(%s)\n' "$(lua "not in this box: $1")"
}

# Installed box modules: name -> version; the others: name -> the reason.
declare -A real=() missing=()
for name in "${names[@]}"; do
    version="${version_of[$name]}"
    packages="${packages_of[$name]}"
    # shellcheck disable=SC2086 # a list of package names
    if [ -z "$packages" ] || installed $packages; then
        real[$name]="$version"
    elif [ -n "$version" ]; then
        missing[$name]="install Debian's ${packages// /, } (apt-get install ${packages}), then run ci/site-in-a-box.sh again"
    else
        version_of[$name]="not-in-this-box"
        missing[$name]="this machine's Debian has no ${packages// /, }${debian_lacks[$name]:-}"
    fi
done

flexiblas_version="${version_of[flexiblas]}"
for name in "${names[@]}"; do
    version="${version_of[$name]}"
    file="$box/modules/$name/$version.lua"
    if [ -n "${missing[$name]:-}" ]; then
        label="$name/$version"
        [ "$version" != not-in-this-box ] || label="$name"
        write_file "$file" "$(printf 'whatis(%s)\n' "$(lua "$name: not in this box")")
$(not_in_box "$label: ${missing[$name]}")
"
        ln -s "$version.lua" "$box/modules/$name/default"
        note 'missing  %-22s %s' "$label" "${missing[$name]}"
        continue
    fi
    ebname="${ebname_of[$name]}"
    source_text="the box's own"
    [ -z "${packages_of[$name]}" ] || source_text="Debian's ${packages_of[$name]}"
    text="whatis($(lua "$name $version (site in a box: $source_text)"))"$'\n'
    if [ -n "${guard_of[$name]}" ]; then
        # A package removed since the box was made.
        text+="if not isFile($(lua "${guard_of[$name]}")) then $(not_in_box "$name/$version: ${guard_of[$name]} is gone: install Debian's ${packages_of[$name]} again") end"$'\n'
    fi
    if [ "$ebname" != "-" ]; then
        text+="setenv($(lua "EBROOT$ebname"), $(lua "${root_of[$name]}"))"$'\n'
        text+="setenv($(lua "EBVERSION$ebname"), $(lua "$version"))"$'\n'
    fi
    if [ "$name" = gcc ]; then
        text+="setenv(\"EBVERSIONGCCCORE\", $(lua "$version"))"$'\n'
    fi
    text+="${lua_of[$name]}"
    if [ "$name" = StdEnv ]; then
        # The site's StdEnv loads its compiler; the box's loads gcc when the box has it.
        [ -n "${real[gcc]:-}" ] && text+='load("gcc")'$'\n'
    fi
    write_file "$file" "$text"
    ln -s "$version.lua" "$box/modules/$name/default"
    note 'module   %-22s %s' "$name/$version" "$source_text"
done
if [ -n "${real[flexiblas]:-}" ]; then
    # FlexiBLAS's names for Debian's OpenBLAS: -lflexiblas, pkg-config flexiblas, cblas.h.
    mkdir -p "$flexiblas_prefix/lib/pkgconfig"
    ln -s "$libdir/libopenblas.so" "$flexiblas_prefix/lib/libflexiblas.so"
    ln -s "$libdir/libopenblas.so.0" "$flexiblas_prefix/lib/libflexiblas.so.3"
    ln -s "/usr/include/$multiarch/openblas-pthread" "$flexiblas_prefix/include"
    cat > "$flexiblas_prefix/lib/pkgconfig/flexiblas.pc" <<EOF
# FlexiBLAS's pkg-config name for Debian's OpenBLAS (site in a box)
prefix=$flexiblas_prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: flexiblas
Description: OpenBLAS $flexiblas_version under FlexiBLAS's name (site in a box)
Version: $flexiblas_version
Libs: -L\${libdir} -lflexiblas
Cflags: -I\${includedir}
EOF
fi

# Versions the recipes name of the box's modules, and every other name. flexiblas is an alias
# whatever its version: OpenBLAS stands in for every FlexiBLAS (the BLAS and LAPACK are the
# same interface).
declare -A aliases=() absent_names=()
for entry in "${named[@]}"; do
    case "/$entry/" in */./* | */../*) continue ;; esac
    name="${entry%%/*}"
    wanted=""
    [ "$name" = "$entry" ] || wanted="${entry#*/}"
    if [ -n "${version_of[$name]+set}" ]; then
        version="${version_of[$name]}"
        [ -n "$wanted" ] || continue
        case "$version." in "$wanted".*) continue ;; esac
        if [ -z "${missing[$name]:-}" ] && { [ "${wanted%%.*}" = "${version%%.*}" ] || [ "$name" = flexiblas ]; }; then
            aliases[$name]+="module_version($(lua "$name/$version"), $(lua "$wanted"))"$'\n'
            note 'alias    %-22s the box'"'"'s %s' "$entry" "$name/$version"
        elif [ -n "${missing[$name]:-}" ]; then
            write_file "$box/modules/$entry.lua" "$(not_in_box "$entry: ${missing[$name]}")"$'\n'
            note 'missing  %-22s %s' "$entry" "${missing[$name]}"
        else
            write_file "$box/modules/$entry.lua" "$(not_in_box "$entry: the box has $name/$version (Debian's ${packages_of[$name]:-}), another major version; a recipe that builds with it can name \`$name\`")"$'\n'
            note 'absent   %-22s the box has %s only' "$entry" "$name/$version"
        fi
    else
        absent_names[$name]+="${wanted:+$wanted }"
    fi
done
for name in "${!aliases[@]}"; do
    write_file "$box/modules/$name/.modulerc.lua" "${aliases[$name]}"
done
absent_names[cuda]+=""
mapfile -t absent_list < <(printf '%s\n' "${!absent_names[@]}" | sort)
for name in "${absent_list[@]}"; do
    reason="${absent_reason[$name]:-}"
    [ -n "$reason" ] || reason="the box stands in for a site's stack with Debian's packages and has no $name"
    wanted="${absent_names[$name]}"
    if [ -z "$wanted" ] || [ "$name" = cuda ]; then
        # A name asked for without a version (and cuda, always).
        write_file "$box/modules/$name/not-in-this-box.lua" "$(not_in_box "$name: $reason")"$'\n'
        ln -sfn not-in-this-box.lua "$box/modules/$name/default"
    fi
    for version in $wanted; do
        write_file "$box/modules/$name/$version.lua" "$(not_in_box "$name/$version: $reason")"$'\n'
    done
done
note 'absent   %s: %s' "$(count "${#absent_list[@]}" "module name")" "$(printf '%s ' "${absent_list[@]}" | sed 's/ $//')"

# --- the layout ---------------------------------------------------------------------------------

layout_source="$script_dir/../wheelhouse-layout.toml"
if [ -f "$layout_source" ]; then
    layout_text="$(cat "$layout_source")"
else
    layout_text="$("${WHEELWRIGHT:-wheelwright}" layout show | sed '1{/^# layout:/d}')"
fi
default_layer="$(printf '%s\n' "$layout_text" | sed -n 's/^default_layer *= *"\(.*\)".*/\1/p' | head -n 1)"
{
    echo "# A site in a box: the embedded layout (wheelhouse-layout.toml) with the box's modules as"
    echo "# the stack of its default layer ($default_layer), written by ci/site-in-a-box.sh."
    echo "# Only $default_layer is entered; the other layers have no lines (the host's environment)."
    printf '%s\n' "$layout_text" | awk -v recipes="$recipes" -v layer="[layers.$default_layer]" '
        /^root = / {
            print "root = \"wheelhouse\"   # beside this file"
            if (recipes != "") { gsub(/\\/, "\\\\", recipes); gsub(/"/, "\\\"", recipes); print "recipes = \"" recipes "\"" }
            next
        }
        { print }
        $0 == layer { print "environment = [\"module --force purge\", \"module load StdEnv/2023\"]" }
    '
    echo
    echo "[modules]"
    echo "system = \"lmod\""
    echo "modulepath = [\"modules\"]"
} > "$box/layout.toml.new"
mv "$box/layout.toml.new" "$box/layout.toml"

{
    echo "site in a box: $box"
    echo "  layout   $box/layout.toml (layer $default_layer: module load StdEnv/2023)"
    [ -z "$recipes" ] || echo "  recipes  $recipes: $(count "${#recipe_files[@]}" recipe), $(count "${#named[@]}" "module name")"
    printf '  %s\n' "${report[@]}"
    if [ "${#missing_packages[@]}" -gt 0 ]; then
        echo "  to have the missing modules: $(basename "$0") --install prints the apt-get line"
    fi
} | tee "$box/box.txt"
