#!/usr/bin/python3
"""Checks that the documentation agrees with the code (ctest `docs`):

- docs/api.md documents (as a "### `name`" heading) exactly the functions, types and macros
  that include/libstyle.h and include/libstyle_train.h declare, every field of every public struct in that type's section,
  and every enum value;
- docs/libstyle.1 has a section per command of `libstyle --help`, and each section lists
  exactly the long options that `libstyle <command> --help` prints (--help, accepted by every
  command, is documented once); the global options likewise;
- every exit status the tool's sources return is in the manual page's EXIT STATUS;
- links between the Markdown files of docs/ and README.md lead to files that exist;
- the version is the one of include/libstyle.h (LIBSTYLE_VERSION_MAJOR/MINOR/PATCH, which
  CMakeLists.txt reads) wherever else it is written: LIBSTYLE_VERSION_STRING, the Python
  package (pyproject.toml, __version__), the manual page and `libstyle --version`.

Usage: check_docs.py SOURCE_DIR LIBSTYLE_BINARY. Prints one line per check and the problems;
exits 1 when any check failed.
"""
import os
import re
import subprocess
import sys

failures = []


def check(name, problems):
    print(("PASS " if not problems else "FAIL ") + name)
    for problem in problems:
        print("    " + problem)
    if problems:
        failures.append(name)


def difference(what, want, got, want_name, got_name):
    problems = ["%s%s is missing from %s" % (what, n, got_name) for n in sorted(want - got)]
    problems += ["%s%s is in %s but not in %s" % (what, n, got_name, want_name)
                 for n in sorted(got - want)]
    return problems


# ---- the API reference ----------------------------------------------------------------------

def header_declarations(text):
    """Functions, types and macros of libstyle.h; public structs with their fields."""
    flat = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names = set(re.findall(r"STYLE_API[^;{}]*?\b(style_[a-z0-9_]+)\s*\(", flat))
    names |= set(re.findall(r"typedef\s+(?:enum|struct)\s+(style_[a-z0-9_]+)", flat))
    names |= set(re.findall(r"typedef[^;]*\(\s*\*\s*(style_[a-z0-9_]+)\s*\)", flat))
    names |= set(re.findall(r"#define\s+((?:LIBSTYLE|STYLE)_[A-Z0-9_]+)\b", flat))
    names -= {"LIBSTYLE_H", "LIBSTYLE_TRAIN_H"}  # the include guards
    structs = {}
    for name, body in re.findall(r"typedef\s+struct\s+(style_[a-z0-9_]+)\s*\{(.*?)\}", flat,
                                 flags=re.S):
        fields = []
        for declaration in body.split(";"):
            declaration = declaration.strip()
            if not declaration:
                continue
            pointer = re.match(r".*\(\s*\*\s*(\w+)\s*\)", declaration)
            if pointer:
                fields.append(pointer.group(1))
                continue
            # "int32_t width, height" and "int32_t widths[3]"
            head, *rest = declaration.split(",")
            fields.append(re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", head)[0])
            fields += [re.findall(r"(\w+)", r)[0] for r in rest]
        structs[name] = fields
    values = set(re.findall(r"\b(STYLE_[A-Z0-9_]+)\s*=", flat))
    return names, structs, values


def api_sections(text):
    """Heading name -> the text up to the next heading."""
    sections = {}
    parts = re.split(r"^### `([A-Za-z0-9_]+)`[^\n]*$", text, flags=re.M)
    for i in range(1, len(parts), 2):
        sections[parts[i]] = parts[i + 1]
    return sections


HEADERS = ("libstyle.h", "libstyle_train.h")  # the stable API, and training & evaluation


def check_api(src):
    text = ""
    for header in HEADERS:
        with open(os.path.join(src, "include", header)) as f:
            text += f.read()
    names, structs, values = header_declarations(text)
    with open(os.path.join(src, "docs", "api.md")) as f:
        text = f.read()
    sections = api_sections(text)
    check("docs/api.md documents every declaration of libstyle.h and libstyle_train.h (%d) and "
          "no other" % len(names),
          difference("", names, set(sections), "the headers", "docs/api.md"))
    problems = []
    for struct, fields in structs.items():
        section = sections.get(struct, "")
        for field in fields:
            if "`%s`" % field not in section:
                problems.append("%s.%s is not described in the section of %s" % (struct, field,
                                                                              struct))
    check("docs/api.md describes every field of the %d public structs" % len(structs), problems)
    check("docs/api.md names every enum value (%d)" % len(values),
          ["%s is not in docs/api.md" % v for v in sorted(values) if v not in text])


# ---- the manual page ------------------------------------------------------------------------

def run(cli, *args):
    done = subprocess.run([cli, *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit("%s %s failed: %s" % (cli, " ".join(args), done.stderr))
    return done.stdout


def help_options(text):
    """Long options of the option lines ("  -m, --model FILE", "  --data DIR") of a help text."""
    options = set()
    for line in text.splitlines():
        match = re.match(r"\s+(?:-[A-Za-z0-9], )?--([a-z][a-z0-9-]*)", line)
        if match:
            options.add(match.group(1))
    return options


def man_sections(text):
    """'.SS "libstyle CMD ..."' and '.SH GLOBAL OPTIONS' -> the long options of their .TP items."""
    sections = {}
    current = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        subsection = re.match(r'\.SS "libstyle ([a-z0-9\\-]+)', line)
        if subsection:
            current = subsection.group(1).replace("\\-", "-")
            sections.setdefault(current, set())
        elif line.startswith(".SH"):
            current = "GLOBAL" if "GLOBAL OPTIONS" in line else None
            if current:
                sections.setdefault(current, set())
        elif line == ".TP" and current and i + 1 < len(lines):
            item = re.search(r"\\-\\-([a-z][a-z0-9\\-]*)", lines[i + 1])
            if item:
                sections[current].add(item.group(1).replace("\\-", "-"))
    return sections


def check_manual(src, cli):
    with open(os.path.join(src, "docs", "libstyle.1")) as f:
        man = f.read()
    sections = man_sections(man)
    top = run(cli, "--help")
    commands = re.findall(r"^  ([a-z][a-z0-9-]*) +\S", top.split("Commands:")[1].split("\n\n")[0],
                          flags=re.M)
    commands = [c for c in commands if c != "help"]
    check("docs/libstyle.1 has a section per command (%s)" % " ".join(commands),
          ["no section '.SS \"libstyle %s ...\"'" % c for c in commands if c not in sections] +
          ["section '%s' is not a command of libstyle --help" % s for s in sections
           if s not in commands and s != "GLOBAL"])
    check("docs/libstyle.1 GLOBAL OPTIONS = the options of libstyle --help",
          difference("--", help_options(top.split("Options:")[1]), sections.get("GLOBAL", set()),
                     "libstyle --help", "docs/libstyle.1"))
    for command in commands:
        want = help_options(run(cli, command, "--help")) - {"help"}
        got = sections.get(command, set()) - {"help"}
        check("docs/libstyle.1 %s = libstyle %s --help (%d options)" % (command, command,
                                                                       len(want)),
              difference("--", want, got, "libstyle %s --help" % command, "docs/libstyle.1"))


def check_exit_codes(src):
    cli_dir = os.path.join(src, "src", "cli")
    codes = set()
    for name in os.listdir(cli_dir):
        with open(os.path.join(cli_dir, name)) as f:
            text = f.read()
        codes |= {int(c) for c in re.findall(r"#define CLI_EXIT_[A-Z]+ (\d+)", text)}
        codes |= {int(c) for c in re.findall(r"return (\d{2,3});", text)}
    with open(os.path.join(src, "docs", "libstyle.1")) as f:
        man = f.read()
    exit_section = man.split(".SH \"EXIT STATUS\"")[1].split("\n.SH")[0]
    documented = {int(c) for c in re.findall(r"^\.B (\d+)$", exit_section, flags=re.M)}
    check("docs/libstyle.1 EXIT STATUS lists the codes the tool returns %s" % sorted(codes),
          difference("exit status ", codes, documented, "src/cli", "docs/libstyle.1"))


def check_links(src):
    problems = []
    files = [os.path.join(src, "README.md")]
    for root, _, names in os.walk(os.path.join(src, "docs")):
        files += [os.path.join(root, n) for n in names if n.endswith(".md")]
    for path in files:
        with open(path) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http:, mailto:
            if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                problems.append("%s: link to %s, which does not exist"
                                % (os.path.relpath(path, src), target))
    check("links between README.md and docs/*.md lead to existing files", problems)


# ---- the version ----------------------------------------------------------------------------

def check_version(src, cli):
    with open(os.path.join(src, "include", "libstyle.h")) as f:
        header = f.read()
    parts = [re.search(r"^#define LIBSTYLE_VERSION_%s (\d+)$" % p, header, re.M)
             for p in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        check("include/libstyle.h defines LIBSTYLE_VERSION_MAJOR, _MINOR and _PATCH",
              ["one of them is missing"])
        return
    version = ".".join(m.group(1) for m in parts)
    copies = {}
    m = re.search(r'^#define LIBSTYLE_VERSION_STRING "([^"]*)"$', header, re.M)
    copies["LIBSTYLE_VERSION_STRING"] = m.group(1) if m else None
    for name, path, pattern in [
            ("bindings/python/pyproject.toml", ("bindings", "python", "pyproject.toml"),
             r'^version = "([^"]*)"$'),
            ("bindings/python/libstyle/__init__.py",
             ("bindings", "python", "libstyle", "__init__.py"), r'^__version__ = "([^"]*)"$'),
            ("docs/libstyle.1", ("docs", "libstyle.1"), r'^\.TH [^\n]*"libstyle ([^"]*)"')]:
        with open(os.path.join(src, *path)) as f:
            m = re.search(pattern, f.read(), re.M)
        copies[name] = m.group(1) if m else None
    m = re.match(r"libstyle (\S+)$", run(cli, "--version").strip())
    copies["libstyle --version"] = m.group(1) if m else None
    check("the version %s of include/libstyle.h is the one everywhere else" % version,
          ["%s says %s" % (name, got) for name, got in sorted(copies.items()) if got != version])


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, cli = sys.argv[1], sys.argv[2]
    check_api(src)
    check_manual(src, cli)
    check_exit_codes(src)
    check_links(src)
    check_version(src, cli)
    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
