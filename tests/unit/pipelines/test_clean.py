"""Cleaning: HTML to text, the sanitised description, and CleanPipeline on
items extracted from saved simulator bodies."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from scrapy import Spider
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.extract.api import extract_comments, extract_product
from crawler.html import html_to_text, sanitize_html
from crawler.items import Brand, Comment
from crawler.pipelines.clean import CleanPipeline
from tests.support.paths import DATA

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


@pytest.fixture
def pipeline() -> CleanPipeline:
    return build_from_crawler(CleanPipeline, get_crawler(Spider))


# -- text -------------------------------------------------------------------


def test_description_text_of_a_saved_product() -> None:
    html = load("product_37779493.json")["description"]
    assert html_to_text(html) == "\n".join(
        [
            "Điện thoại Nokia Pro 11 8GB/256GB",
            "Kích thước nhỏ gọn, dễ dàng mang theo khi đi du lịch hay công tác. Công nghệ mới "
            "nhất giúp tiết kiệm điện năng đến 30% so với thế hệ trước.",
            "Cảm ơn bạn đã tin tưởng, chất lượng đảm bảo & giao nhanh 2h.",
            "Thương hiệu Nokia",
            "Xuất xứ Đức",
            "Màu sắc Xanh dương",
            "Bảo hành 12 tháng",
            "Giá sản phẩm trên Tiki đã bao gồm thuế theo luật hiện hành.",
            "Sản phẩm được thiết kế hiện đại, tinh tế và sang trọng, phù hợp với mọi không gian.",
            "Giá sản phẩm trên Tiki đã bao gồm thuế theo luật hiện hành.",
        ]
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # scripts and styles go with their content, whatever their case and attributes
        ('a<SCRIPT type="x">\nalert("<p>")\n</SCRIPT >b', "ab"),
        ("a<style media=x>p { color: red }</style>b<!-- note -->c", "abc"),
        # entities decoded after the tags are gone: an escaped tag is text
        ("&lt;b&gt;Giá&lt;/b&gt; &amp; &#7879; &#x1EC7;", "<b>Giá</b> & ệ ệ"),
        # block tags and cells keep words apart; inline tags do not split words
        ("<p>Một</p><p>Hai</p><table><tr><td>a</td><td>b</td></tr></table>", "Một\nHai\na b"),
        ("Tiếng <b>Vi</b>ệt<br/>mới", "Tiếng Việt\nmới"),
        # whitespace: nbsp, tabs and runs of spaces collapse; blank lines go
        ("  a&nbsp;&nbsp;b\t\tc \n\n\n d  ", "a b c\nd"),
        # invisible characters that break search are removed
        ("Đi\u200bện tho\ufeffại", "Điện thoại"),
        # text that only looks like markup stays
        ("giá < 5 triệu > 3 và I <3 it", "giá < 5 triệu > 3 và I <3 it"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_vietnamese_with_combining_marks_becomes_precomposed() -> None:
    decomposed = unicodedata.normalize("NFD", "Điện thoại Việt Nam")
    assert decomposed != "Điện thoại Việt Nam"
    assert html_to_text(decomposed) == "Điện thoại Việt Nam"


def test_one_line() -> None:
    assert html_to_text("<p>Kích thước</p><p>(D.R.C)</p>", one_line=True) == "Kích thước (D.R.C)"


def test_none_stays_none() -> None:
    assert html_to_text(None) is None
    assert sanitize_html(None) is None


# -- sanitised HTML ---------------------------------------------------------


def test_sanitize_keeps_the_allow_list_only() -> None:
    html = (
        '<p onclick="steal()">Giá <b>tốt</b>'
        '<a href="javascript:alert(1)" onmouseover="x()">xem</a>'
        '<a href="JaVaScRiPt:alert(1)">hoa</a>'
        '<a href="https://tiki.vn/p" target="_blank">trang</a>'
        '<img src="data:image/png;base64,AAAA" onerror="x()">'
        '<img src="https://salt.tikicdn.com/a.jpg" alt="Ảnh" style="width:1px">'
        '<iframe src="https://evil.example"></iframe>'
        "<svg><script>1</script></svg><style>p{}</style><!-- c -->"
        '<span style="background:url(javascript:1)" class="x" id="y">s</span></p>'
    )
    assert sanitize_html(html) == (
        "<p>Giá <b>tốt</b>"
        '<a rel="noopener noreferrer nofollow">xem</a>'
        '<a rel="noopener noreferrer nofollow">hoa</a>'
        '<a href="https://tiki.vn/p" rel="noopener noreferrer nofollow">trang</a>'
        "<img>"
        '<img src="https://salt.tikicdn.com/a.jpg" alt="Ảnh">'
        "<span>s</span></p>"
    )


def test_sanitized_description_of_a_saved_product() -> None:
    html = sanitize_html(load("product_37779493.json")["description"])
    assert html is not None
    for gone in ("<script", "dataLayer", "<style", "border-collapse", 'class="'):
        assert gone not in html
    assert html.startswith("<div>\n<h2>Điện thoại Nokia Pro 11 8GB/256GB</h2>")
    assert "<td>Thương hiệu</td><td>Nokia</td>" in html
    assert "Cảm ơn bạn đã tin tưởng" in html  # entities of Vietnamese letters decoded
    assert (
        '<img src="https://salt.tikicdn.com/ts/tmp/66ea8c1a7c5b479e8de3039933f793b9.jpg" '
        'alt="Xanh dương" width="750" height="750">' in html
    )


# -- the pipeline -----------------------------------------------------------


def test_pipeline_cleans_a_product(pipeline: CleanPipeline) -> None:
    body = load("product_37779493.json")
    product = extract_product(body, "https://tiki.vn/api/v2/products/37779493", NOW)
    assert pipeline.process_item(product) is product
    assert product.description_text == html_to_text(body["description"])
    assert product.description_html == sanitize_html(body["description"])
    assert product.name == "Điện thoại Nokia Pro 11 8GB/256GB"
    values = {row["code"]: row["value"] for row in product.specifications}
    assert values["dimensions"] == "43 x 55 x 29 cm"
    assert values["included_accessories"] == "Sách hướng dẫn\nPhiếu bảo hành"
    assert values[""] == "Đang cập nhật"
    # hostile codes and names are kept as values: they are rows, never keys
    assert [(r["code"], r["name"]) for r in product.specifications][6:10] == [
        ("$where", "$where"),
        ("a.b", "Kích thước (D.R.C)"),
        ("", ""),
        ("capacity.max", "$Công suất tối đa"),
    ]


def test_a_name_of_spaces_becomes_empty(pipeline: CleanPipeline) -> None:
    body = {**load("product_37779493.json"), "name": " \u00a0 "}
    product = extract_product(body, "u", NOW)
    pipeline.process_item(product)
    assert product.name == ""


def test_a_price_of_the_wrong_type_is_left_for_validation(pipeline: CleanPipeline) -> None:
    product = extract_product(load("product_37802257.json"), "u", NOW)
    pipeline.process_item(product)
    assert product.price == "Liên hệ"


def test_pipeline_cleans_a_comment(pipeline: CleanPipeline) -> None:
    page = load("reviews_37863078_p2.json")
    review = {
        **page["data"][0],
        "title": " Rất &amp; hài lòng ",
        "content": "<p>Hàng <b>tốt</b>,&nbsp;giao nhanh.</p><script>x()</script><p>Sẽ ủng hộ!</p>",
    }
    (comment,) = extract_comments({"data": [review]}, 37863078, "u", NOW)
    pipeline.process_item(comment)
    assert isinstance(comment, Comment)
    assert comment.title == "Rất & hài lòng"
    assert comment.content == "Hàng tốt, giao nhanh.\nSẽ ủng hộ!"


def test_pipeline_cleans_a_brand_name(pipeline: CleanPipeline) -> None:
    brand = Brand(id=1, name=" Đồng &amp; Tâm ", source_url="u", scraped_at=NOW)
    pipeline.process_item(brand)
    assert brand.name == "Đồng & Tâm"
