"""Serve the Data Docs' scripts and styles from the site itself instead of public CDNs.

Municipal networks are often closed: GX's pages link jQuery, Bootstrap and bootstrap-table from
CDNs, and without them the index page's table stays empty. `make setup` installs the same
releases from npm into `expectations/vendor/node_modules` (pinned in `package-lock.json`);
`localise` copies them into the site and points every page at the local copies. Where the npm
install is missing, the pages keep their CDN links.
"""

import re
import shutil
from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parent / "vendor" / "node_modules"

#: CDN prefix → path of the same release under node_modules.
CDN_TO_NPM = {
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/": "@fortawesome/fontawesome-free/css/",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/": "popper.js/dist/umd/",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/": "bootstrap/dist/",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/": "bootstrap/dist/",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/": "bootstrap-table/dist/",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/": "bootstrap-table/dist/",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/": "bootstrap-datepicker/dist/",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/": "@forevolve/bootstrap-dark/",
}
#: Folders a copied stylesheet refers to relatively (Font Awesome's fonts).
COMPANIONS = {"@fortawesome/fontawesome-free/css/": "@fortawesome/fontawesome-free/webfonts"}

_URL = re.compile(r"""(?P<attr>src|href)=(?P<q>["'])(?P<url>https://[^"']+)(?P=q)""")
_SRI = re.compile(r"""\s+(integrity|crossorigin)=(["'])[^"']*\2""")


def _npm_path(url: str) -> str | None:
    for prefix, local in CDN_TO_NPM.items():
        if url.startswith(prefix):
            return local + url[len(prefix) :]
    return None


def localise(site: Path, node_modules: Path = NODE_MODULES) -> int:
    """Rewrite CDN links of every page under `site` to `site/vendor/`; returns the links rewritten."""
    if not node_modules.is_dir():
        return 0
    rewritten = 0
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        localised, count = _URL.subn(_local_link(site, page, node_modules), html)
        if count:
            page.write_text(_strip_integrity(localised), encoding="utf-8")
            rewritten += count
    return rewritten


def _local_link(site: Path, page: Path, node_modules: Path):
    """A substitution for `page`'s links: a known CDN file becomes a relative link to its copy in the site."""
    vendor = site / "vendor"
    up = "../" * (len(page.relative_to(site).parts) - 1)

    def local(match: re.Match) -> str:
        npm_path = _npm_path(match["url"])
        if npm_path is None or not (node_modules / npm_path).is_file():
            return match[0]
        target = vendor / npm_path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(node_modules / npm_path, target)
            for prefix, folder in COMPANIONS.items():
                if npm_path.startswith(prefix) and not (vendor / folder).exists():
                    shutil.copytree(node_modules / folder, vendor / folder)
        return f"{match['attr']}={match['q']}{up}vendor/{npm_path}{match['q']}"

    return local


def _strip_integrity(html: str) -> str:
    """Subresource-integrity hashes name the CDN's bytes; local files load without them."""
    return re.sub(r"<(script|link)\b[^>]*>", lambda tag: _SRI.sub("", tag[0]), html)
