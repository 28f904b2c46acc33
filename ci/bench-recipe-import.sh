#!/usr/bin/env bash
# Benchmark (not a test): `wheelwright recipe import --from-wheels-builder` on N generated
# build_wheel.sh configs of the kinds a real wheels_builder config/ holds, and the time it
# takes (the target: 1,000 configs in under 10 s on 2 cores).
#
# Usage:
#   ci/bench-recipe-import.sh [--configs N] [--runs R] [--jobs J] [--wheelwright PATH]
#
#   --configs N        config files to generate [1000] (about 1 in 13 is a <package>-<version>.sh)
#   --runs R           timed runs, the median printed [3]
#   --jobs J           `-j` of the import [the CPUs]
#   --wheelwright PATH the binary [target/release/wheelwright, built when missing]
#
# The configs rotate through: plain dependencies and import names; `$EBVERSIONGENTOO`
# branches for modules; `$RSNT_ARCH` branches exporting flags; git downloads pinned to
# v$VERSION; multi-line PRE_BUILD_COMMANDS with exports; patches (present and missing);
# version tests with translate_version; PYTHON_VERSIONS; UPDATE_REQUIREMENTS and RPATHs;
# versioned files next to generic ones; and now and then a config that refuses to build
# (`exit 1`), as the real ones do.
set -euo pipefail

repository=$(cd "$(dirname "$0")/.." && pwd)
configs=1000
runs=3
jobs=""
wheelwright=""
while [[ $# -gt 0 ]]; do
	case "$1" in
		--configs) configs=$2; shift 2 ;;
		--runs) runs=$2; shift 2 ;;
		--jobs) jobs=$2; shift 2 ;;
		--wheelwright) wheelwright=$2; shift 2 ;;
		*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done
if [[ -z "$wheelwright" ]]; then
	wheelwright=$repository/target/release/wheelwright
	if [[ ! -x "$wheelwright" ]]; then
		(cd "$repository" && cargo build --release --bin wheelwright)
	fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/config" "$work/patches"

generate() {
	local index=$1 name="pkg$1"
	local file="$work/config/$name.sh"
	case $((index % 12)) in
	0) cat > "$file" <<-EOF
		PYTHON_DEPS="numpy scipy cython>=3"
		PYTHON_IMPORT_NAME="${name}_core"
		EOF
		;;
	1) cat > "$file" <<-'EOF'
		if [[ "$EBVERSIONGENTOO" == "2023" ]]; then
			MODULE_BUILD_DEPS="cuda/12.6 cudnn"
		else
			MODULE_BUILD_DEPS="gcc/9.3.0 cuda/11.4 cudnn"
		fi
		PYTHON_DEPS="torch${TORCH_VERSION:+==$TORCH_VERSION}"
		EOF
		;;
	2) cat > "$file" <<-'EOF'
		if [[ "$RSNT_ARCH" == "avx512" ]]; then
			export CFLAGS="-march=skylake-avx512"
		elif [[ "$RSNT_ARCH" == "avx2" ]]; then
			export CFLAGS="-march=core-avx2"
		fi
		MODULE_RUNTIME_DEPS="hdf5"
		EOF
		;;
	3) cat > "$file" <<-EOF
		PACKAGE_DOWNLOAD_ARGUMENT="https://github.com/example/$name.git"
		PACKAGE_DOWNLOAD_NAME="\$PACKAGE-\$VERSION.tar.gz"
		PACKAGE_DOWNLOAD_METHOD="Git"
		PACKAGE_DOWNLOAD_CMD="git clone --recursive \$PACKAGE_DOWNLOAD_ARGUMENT --branch v\${VERSION:?version required} \$PACKAGE_FOLDER_NAME"
		POST_DOWNLOAD_COMMANDS="tar -zcf \${PACKAGE}-\${VERSION}.tar.gz \$PACKAGE_FOLDER_NAME"
		MODULE_BUILD_DEPS="cmake boost"
		EOF
		;;
	4) cat > "$file" <<-'EOF'
		PRE_BUILD_COMMANDS='
			export MAX_JOBS=${SLURM_CPUS_PER_TASK:-4};
			export FORCE_CUDA=1;
			sed -i -e "s/-march=native//" setup.py;
		'
		TEST_COMMAND="python -c 'import sys'"
		EOF
		;;
	5) echo "--- a/x" > "$work/patches/$name-fix.patch"
		cat > "$file" <<-EOF
		PATCHES="$name-fix.patch $name-missing.patch"
		PYTHON_TESTS="print('ok')"
		EOF
		;;
	6) cat > "$file" <<-'EOF'
		if [[ -n "$VERSION" ]] && [[ $(translate_version $VERSION) -lt $(translate_version '2.0.0') ]]; then
			PYTHON_DEPS="numpy<2"
		else
			PYTHON_DEPS="numpy>=2"
		fi
		EOF
		;;
	7) cat > "$file" <<-'EOF'
		PYTHON_VERSIONS="python/3.12 python/3.13"
		UPDATE_REQUIREMENTS="'faiss-cpu->faiss'"
		RPATH_TO_ADD="'\$ORIGIN/../torch/lib'"
		EOF
		;;
	8) cat > "$file" <<-'EOF'
		PACKAGE_DOWNLOAD_ARGUMENT="https://example.org/dist/$PACKAGE-${VERSION:?version required}.tar.gz"
		PIP_WHEEL_ARGS="-Csetup-args=-Dblas=flexiblas -Csetup-args=-Dlapack=flexiblas"
		MODULE_BUILD_DEPS="arch/avx2 flexiblas"
		EOF
		;;
	9) cat > "$file" <<-'EOF'
		PYTHON_DEPS="setuptools_scm[toml] wheel"
		cat <<HERE
		a config that prints while sourced
		HERE
		EOF
		cat > "$work/config/$name-1.2.3.sh" <<-'EOF'
		PYTHON_DEPS="setuptools_scm<8"
		EOF
		;;
	10) cat > "$file" <<-'EOF'
		if [[ $THIS_SCRIPT == 'build_wheel.sh' ]]; then
			echo "only available as manylinux wheels"
			exit 1
		fi
		EOF
		;;
	11) cat > "$file" <<-'EOF'
		MODULE_RUNTIME_DEPS="gcc openmpi mpi4py"
		BDIST_WHEEL_ARGS="--cpp_ext --cuda_ext"
		PACKAGE_SUFFIX="-mpi"
		EOF
		;;
	esac
}

# N files in all: a versioned file counts as one.
index=0
while (($(find "$work/config" -name '*.sh' | wc -l) < configs)); do
	for ((batch = 0; batch < 12 && index < configs * 2; batch++)); do
		generate "$index"
		index=$((index + 1))
	done
done
while (($(find "$work/config" -name '*.sh' | wc -l) > configs)); do
	rm -f "$(find "$work/config" -name 'pkg*.sh' ! -name '*-1.2.3.sh' | sort | tail -1)"
done
total=$(find "$work/config" -name '*.sh' | wc -l)
echo "generated $total configs in $work/config"

times=()
for ((run = 1; run <= runs; run++)); do
	rm -rf "$work/out"
	start=$(date +%s.%N)
	"$wheelwright" recipe import --from-wheels-builder "$work/config" -o "$work/out" ${jobs:+-j "$jobs"} \
		> "$work/report.txt" || true
	end=$(date +%s.%N)
	elapsed=$(echo "$end - $start" | bc)
	times+=("$elapsed")
	echo "run $run: $elapsed s ($(tail -1 "$work/report.txt"))"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
echo "recipe import of $total configs on $(nproc) CPUs: median $median s over $runs runs"
