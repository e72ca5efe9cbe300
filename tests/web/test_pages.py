"""The pages around the editor: login, projects, the ontology editor, the project's image grid."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import new_context, shot, unique
from tests.web.helpers import ONTOLOGY
from tests.web.live import ADMIN, ADMIN_PASSWORD, LiveServer, png


def test_login_create_project_define_ontology_and_upload(
    browser: Any, live: LiveServer, tmp_path: Any
) -> None:
    context = new_context(browser, live, login=False)
    page = context.new_page()
    try:
        page.goto("/")
        page.wait_for_selector("[data-testid=login-username]")
        page.fill("[data-testid=login-username]", ADMIN)
        page.fill("[data-testid=login-password]", "wrong password")
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=login-error]:has-text('Wrong user name or password')")
        shot(page, "login")
        page.fill("[data-testid=login-password]", ADMIN_PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=create-project]")

        name = unique("Streets")
        page.fill("[data-testid=project-name]", name)
        page.click("[data-testid=create-project-submit]")
        page.wait_for_selector("[data-testid=add-class]")
        assert "/ontology" in page.url

        # Two classes: a car (box, polygon, mask; a bool attribute) and a person with a 3-point skeleton.
        page.click("[data-testid=add-class]")
        card = page.locator("[data-testid=class-card]").nth(0)
        card.locator("[data-testid=class-name]").fill("car")
        for shape in ("box", "polygon", "mask"):
            card.locator(f"[data-testid=class-shape-{shape}]").check()
        card.locator("[data-testid=class-rotatable]").check()
        card.locator("[data-testid=add-attribute]").click()
        card.locator("[data-testid=attribute-name]").fill("occluded")
        card.locator("[data-testid=attribute-type]").select_option("bool")
        page.click("[data-testid=add-class]")
        card = page.locator("[data-testid=class-card]").nth(1)
        card.locator("[data-testid=class-name]").fill("person")
        card.locator("[data-testid=class-kind]").select_option("thing")
        card.locator("[data-testid=class-shape-keypoints]").check()
        for _ in range(3):
            card.locator("[data-testid=add-skeleton-point]").click()
        points = card.locator("[data-testid=skeleton-point]")
        for i, point in enumerate(("head", "left_hand", "right_hand")):
            points.nth(i).fill(point)
        card.locator("[data-testid=add-skeleton-edge]").click()
        page.click("[data-testid=save-ontology]")
        page.wait_for_selector("[data-testid=ontology-status]:has-text('Saved: version')")
        shot(page, "ontology")

        project_id = int(page.url.rstrip("/").split("/")[-2])
        ontology = live.api.get(f"/api/projects/{project_id}/ontology").json()["ontology"]
        car, person = ontology["classes"]
        assert car["name"] == "car" and car["shapes"] == ["box", "mask", "polygon"]
        assert car["extra"] == {"rotatable": True} and "rotatable" not in person.get("extra", {})
        assert car["attributes"][0]["name"] == "occluded" and car["attributes"][0]["type"] == "bool"
        assert person["skeleton"]["points"] == ["head", "left_hand", "right_hand"]
        assert person["skeleton"]["edges"] == [[0, 1]]

        page.goto(f"/projects/{project_id}")
        page.wait_for_selector("[data-testid=upload]")
        files = []
        for i in range(3):
            path = tmp_path / f"street_{i}.png"
            path.write_bytes(png(320, 240, seed=i))
            files.append(str(path))
        page.set_input_files("[data-testid=upload-input]", files)
        page.wait_for_function("() => document.querySelectorAll('[data-testid=image-tile]').length === 3")
        page.wait_for_selector("[data-testid=count-new]:has-text('New 3')")
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=image-tile] img')]"
            ".every((i) => i.complete && i.naturalWidth > 0)"
        )
        shot(page, "project")
        names = sorted(
            i["file_name"] for i in live.api.get(f"/api/projects/{project_id}/images").json()["items"]
        )
        assert names == ["street_0.png", "street_1.png", "street_2.png"]

        page.goto("/")
        page.wait_for_selector(f"[data-testid=project-card]:has-text('{name}')")
        shot(page, "projects")
    finally:
        context.close()


def test_status_filter_and_progress_counts(page: Any, live: LiveServer) -> None:
    pid = live.project(unique("Filter"), ONTOLOGY)
    images = live.upload(pid, [(f"f{i}.png", png(64, 48, seed=10 + i)) for i in range(3)])
    r = live.api.post(f"/api/projects/{pid}/images/{images[1]['id']}/status", json={"action": "submit"})
    assert r.status_code == 200, r.text

    page.goto(f"/projects/{pid}")
    page.wait_for_selector("[data-testid=count-submitted]:has-text('Submitted 1')")
    assert page.inner_text("[data-testid=count-new]") == "New 2"
    assert page.locator("[data-testid=image-tile]").count() == 3
    page.select_option("[data-testid=status-filter]", "submitted")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=image-tile]').length === 1")
    assert page.get_attribute("[data-testid=image-tile]", "data-id") == str(images[1]["id"])
    assert "status=submitted" in page.url
    page.select_option("[data-testid=status-filter]", "")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=image-tile]').length === 3")
    page.fill("[data-testid=image-search]", "f2")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=image-tile]').length === 1")
    assert page.get_attribute("[data-testid=image-tile]", "data-id") == str(images[2]["id"])
    assert "q=f2" in page.url

    page.goto(f"/projects/{pid}/images/999999")  # no such image: a message, not a blank page
    page.wait_for_selector("[role=alert]:has-text('could not be shown')")


XSS = '<img src=x onerror="window.__xss=1">'


def test_class_name_with_markup_renders_as_text(page: Any, live: LiveServer) -> None:
    ontology = {
        "classes": [{"name": XSS, "color": [200, 30, 200], "shapes": ["box"]}, {"name": "<b>bold</b>"}]
    }
    pid = live.project(unique("<script>alert(1)</script>"), ontology)
    image = live.upload(pid, [("x.png", png(200, 150, seed=3))])[0]
    live.save(
        pid,
        image["id"],
        [{"label": XSS, "kind": "box", "box": {"x_min": 10, "y_min": 10, "x_max": 90, "y_max": 80}}],
    )

    page.goto(f"/projects/{pid}/ontology")
    page.wait_for_selector("[data-testid=class-card]")
    assert page.locator("[data-testid=class-name]").first.input_value() == XSS
    page.goto(f"/projects/{pid}/images/{image['id']}")
    page.wait_for_selector("[data-testid=canvas][data-ready='1']")
    picker = page.locator("[data-testid=class-picker]")
    assert picker.locator("button").first.inner_text().startswith(XSS)
    assert picker.locator("b, img").count() == 0
    row = page.locator("[data-testid=object-row]").first
    assert row.get_attribute("data-label") == XSS
    assert row.locator("img").count() == 0 and XSS in row.inner_text()
    assert page.locator("[data-testid=topbar], header img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    shot(page, "xss-as-text")
