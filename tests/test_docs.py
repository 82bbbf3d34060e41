"""The documentation stays true: the configuration page matches the schema, and every relative link resolves."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from qaclims.config import merge, validate_config
from qaclims.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("config_page", REPO / "tools/config_page.py")
config_page = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config_page)

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks: headings and links live only there."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces turned into hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for line in prose_lines(page.read_text()):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            anchor = github_anchor(heading.group(1))
            found.add(anchor if anchor not in seen else f"{anchor}-{seen[anchor]}")
            seen[anchor] = seen.get(anchor, 0) + 1
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for line in prose_lines(page.read_text()):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading in {linked.name})")
    return broken


def test_every_relative_link_in_the_readme_and_docs_resolves_to_a_file_and_heading():
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert [broken for page in pages for broken in broken_links(page)] == []


def test_link_check_reports_a_missing_file_and_a_missing_heading_but_not_code(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Pseudo labels: IRNet\n\n## `ritc.variants`\n")
    (tmp_path / "page.md").write_text(
        "# Page\n\n## Page\n\n"
        "[fine](other.md#pseudo-labels-irnet) [code heading](other.md#ritcvariants) [self](#page-1)\n"
        "[no heading](other.md#pseudo-labels) [no file](missing.md) [web](https://example.org/x.md)\n"
        "`[in code](missing.md)`\n\n```\n[in a block](missing.md)\n```\n")
    assert broken_links(tmp_path / "page.md") == [
        "page.md: other.md#pseudo-labels (no such heading in other.md)",
        "page.md: missing.md (no such file)",
    ]


def test_every_yaml_snippet_in_the_readme_and_docs_is_a_valid_config_over_the_demo():
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    snippets = [(page.name, block) for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
                for block in re.findall(r"^```yaml\n(.*?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE)]
    assert len(snippets) >= 4
    for page, block in snippets:
        try:
            validate_config(merge(demo, yaml.safe_load(block)))
        except ConfigError as error:
            pytest.fail(f"a yaml snippet in {page}: {error}")


def test_configuration_page_is_generated_from_the_current_schema():
    page = config_page.render(yaml.safe_load(config_page.SCHEMA.read_text()))
    assert page == config_page.PAGE.read_text(), "docs/configuration.md is stale: run python tools/config_page.py"


def test_configuration_page_lists_every_schema_key_with_its_default():
    schema = yaml.safe_load(config_page.SCHEMA.read_text())
    page = config_page.render(schema)
    assert "| `ritc.loss_weights.background` | number, ≥ 0 | `8` |" in page
    assert "| `dataset.root` | string or null | `null` |" in page
    assert "| `make_cam.dtype` | one of `float16`, `float32` | `float16` |" in page
    listed = set(re.findall(r"^\| `([\w.]+)` \|", page, flags=re.MULTILINE))

    def keys(properties: dict, prefix: str) -> set[str]:
        return {f"{prefix}{name}" for name in properties} | {
            key for name, node in properties.items() for key in keys(node.get("properties", {}), f"{prefix}{name}.")}

    sections = {name for name, node in schema["properties"].items() if "properties" in node}
    assert listed == keys(schema["properties"], "") - sections
    assert set(re.findall(r"^## (\w+)$", page, flags=re.MULTILINE)) == sections


def test_configuration_page_refuses_a_description_cut_at_a_comma():
    schema = yaml.safe_load("properties: {seed: {type: integer, default: 0, description: a seed, per run}}")
    with pytest.raises(ValueError, match=r"seed has unknown schema keywords \['per run'\]"):
        config_page.render(schema)


def test_configuration_page_keeps_table_cells_on_one_line_and_html_out():
    assert config_page.cell("a | b\n  cam/<name>.pt and `<kept>`") == "a \\| b cam/&lt;name>.pt and `<kept>`"
