//! The clinic settings pages over HTTP (issue 16): locations, appointment types and
//! practitioners added, edited, deactivated and reactivated, as the API then reads them; the
//! booking policies; a practitioner's weekly hours and time off, where time off over booked
//! visits lists them and is only added once the desk keeps them; mistakes shown beside their
//! fields; CSRF; and who may open the pages.

use entity::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    appointments::clinic,
    helpers::TestApp,
    intakes::call_ok,
    pages::{Browser, Page},
};

const ADMIN: &str = "admin@clinic.example";
const DESK: &str = "desk@clinic.example";

async fn token(app: &TestApp, email: &str) -> String {
    app.login(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn api_get(app: &TestApp, token: &str, path: &str) -> Value {
    call_ok(app, Method::GET, path, token, None).await
}

/// The item of the API's `list` whose `name` (or `display_name`) is `name`.
fn named<'v>(list: &'v Value, name: &str) -> &'v Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name || item["display_name"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

/// An instant the API wrote, in one spelling (RFC 3339 in UTC with `Z`).
fn instant(value: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn redirected(page: &Page, to: &str) {
    assert_eq!(page.status, 303, "{}", page.html);
    assert_eq!(page.location(), to);
}

#[tokio::test]
async fn an_admin_adds_edits_and_deactivates_locations_and_appointment_types() {
    let app = TestApp::spawn().await;
    app.add_user(ADMIN, Role::Admin).await;
    let api = token(&app, ADMIN).await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;

    let home = admin.get("/").await;
    home.assert_contains("href=\"/setup\"");
    let overview = admin.get("/setup").await;
    assert_eq!(overview.status, 200, "{}", overview.html);
    overview.assert_contains("<h1>Clinic settings</h1>");
    for link in [
        "/setup/locations",
        "/setup/appointment-types",
        "/setup/practitioners",
        "/setup/policies",
    ] {
        overview.assert_contains(&format!("href=\"{link}\""));
    }

    // Locations: mistakes are listed beside their fields and what was typed stays.
    let page = admin.get("/setup/locations").await;
    page.assert_contains("No locations yet.");
    page.assert_contains("keeps its history");
    let refused = admin
        .submit(
            "/setup/locations",
            &[
                ("name", "  "),
                ("address", "12 Quay Street"),
                ("time_zone", "Mars/Olympus"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("There is a problem");
    refused.assert_contains("Name must not be empty.");
    refused.assert_contains("is not an IANA time zone name");
    refused.assert_contains("id=\"time_zone-error\"");
    refused.assert_contains("value=\"12 Quay Street\"");
    assert_eq!(api_get(&app, &api, "/api/v1/locations").await, json!([]));

    let added = admin
        .submit(
            "/setup/locations",
            &[
                ("name", "Harbour Clinic"),
                ("address", "12 Quay Street"),
                ("time_zone", "Europe/London"),
            ],
        )
        .await;
    redirected(&added, "/setup/locations?done=location-added");
    admin
        .get(added.location())
        .await
        .assert_contains("The location is added.");
    let locations = api_get(&app, &api, "/api/v1/locations").await;
    let harbour = named(&locations, "Harbour Clinic");
    assert_eq!(harbour["time_zone"], "Europe/London");
    assert_eq!(harbour["active"], true);
    let location = harbour["id"].as_str().unwrap().to_owned();

    let editing = admin
        .get(&format!("/setup/locations?edit={location}"))
        .await;
    editing.assert_contains(&format!("action=\"/setup/locations/{location}\""));
    editing.assert_contains("value=\"Harbour Clinic\"");
    let path = format!("/setup/locations/{location}");
    let refused = admin
        .submit(&path, &[("name", "Harbour Clinic West"), ("address", "")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Address must not be empty.");
    refused.assert_contains("value=\"Harbour Clinic West\"");
    let saved = admin
        .submit(
            &path,
            &[
                ("name", "Harbour Clinic West"),
                ("address", "14 Quay Street"),
            ],
        )
        .await;
    redirected(&saved, "/setup/locations?done=location-saved");
    let locations = api_get(&app, &api, "/api/v1/locations").await;
    assert_eq!(
        named(&locations, "Harbour Clinic West")["address"],
        "14 Quay Street"
    );

    let active = format!("/setup/locations/{location}/active");
    let off = admin.submit(&active, &[("active", "false")]).await;
    redirected(&off, "/setup/locations?done=location-deactivated");
    let page = admin.get(off.location()).await;
    page.assert_contains("Its appointments are kept");
    page.assert_contains("Reactivate");
    let locations = api_get(&app, &api, "/api/v1/locations").await;
    assert_eq!(named(&locations, "Harbour Clinic West")["active"], false);
    let on = admin.submit(&active, &[("active", "true")]).await;
    redirected(&on, "/setup/locations?done=location-reactivated");
    let locations = api_get(&app, &api, "/api/v1/locations").await;
    assert_eq!(named(&locations, "Harbour Clinic West")["active"], true);

    // Appointment types.
    admin.get("/setup/appointment-types").await;
    let refused = admin
        .submit(
            "/setup/appointment-types",
            &[
                ("name", "Sports massage"),
                ("duration_minutes", "half an hour"),
                ("buffer_after_minutes", "0"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Choose the discipline.");
    refused.assert_contains("Enter the length as a whole number of minutes");
    refused.assert_contains("value=\"Sports massage\"");
    refused.assert_contains("value=\"half an hour\"");
    let off_grid = admin
        .submit(
            "/setup/appointment-types",
            &[
                ("name", "Sports massage"),
                ("discipline", "physiotherapy"),
                ("duration_minutes", "50"),
                ("buffer_after_minutes", "0"),
            ],
        )
        .await;
    assert_eq!(off_grid.status, 422, "{}", off_grid.html);
    off_grid.assert_contains("slot grid");
    off_grid.assert_contains("id=\"duration_minutes-error\"");
    off_grid.assert_contains("value=\"physiotherapy\" checked");
    assert_eq!(
        api_get(&app, &api, "/api/v1/appointment-types").await,
        json!([])
    );
    let added = admin
        .submit(
            "/setup/appointment-types",
            &[
                ("name", "Sports massage"),
                ("discipline", "physiotherapy"),
                ("duration_minutes", "45"),
                ("buffer_after_minutes", "15"),
                ("new_patient", "yes"),
            ],
        )
        .await;
    redirected(&added, "/setup/appointment-types?done=type-added");
    let types = api_get(&app, &api, "/api/v1/appointment-types").await;
    let massage = named(&types, "Sports massage");
    assert_eq!(massage["discipline"], "physiotherapy");
    assert_eq!(massage["duration_minutes"], 45);
    assert_eq!(massage["buffer_after_minutes"], 15);
    assert_eq!(massage["new_patient"], true);
    let kind = massage["id"].as_str().unwrap().to_owned();

    let editing = admin
        .get(&format!("/setup/appointment-types?edit={kind}"))
        .await;
    editing.assert_contains("value=\"45\"");
    let saved = admin
        .submit(
            &format!("/setup/appointment-types/{kind}"),
            &[
                ("name", "Sports massage, long"),
                ("duration_minutes", "60"),
                ("buffer_after_minutes", "0"),
            ],
        )
        .await;
    redirected(&saved, "/setup/appointment-types?done=type-saved");
    let types = api_get(&app, &api, "/api/v1/appointment-types").await;
    let massage = named(&types, "Sports massage, long");
    assert_eq!(massage["duration_minutes"], 60);
    assert_eq!(massage["new_patient"], false, "an unticked box says no");

    let active = format!("/setup/appointment-types/{kind}/active");
    let off = admin.submit(&active, &[("active", "false")]).await;
    redirected(&off, "/setup/appointment-types?done=type-deactivated");
    let types = api_get(&app, &api, "/api/v1/appointment-types").await;
    assert_eq!(named(&types, "Sports massage, long")["active"], false);
    admin
        .get(off.location())
        .await
        .assert_contains("Deactivated");
    let on = admin.submit(&active, &[("active", "true")]).await;
    redirected(&on, "/setup/appointment-types?done=type-reactivated");
    let types = api_get(&app, &api, "/api/v1/appointment-types").await;
    assert_eq!(named(&types, "Sports massage, long")["active"], true);

    // Nothing is found at an id that is none, and a malformed one is no page either.
    let nowhere = admin
        .submit(
            &format!("/setup/locations/{}/active", uuid::Uuid::now_v7()),
            &[("active", "false")],
        )
        .await;
    assert_eq!(nowhere.status, 404);
    let malformed = admin
        .submit("/setup/appointment-types/not-an-id", &[("name", "x")])
        .await;
    assert_eq!(malformed.status, 404);
}

#[tokio::test]
async fn an_admin_makes_a_practitioner_bookable_and_deactivates_them() {
    let app = TestApp::spawn().await;
    app.add_user(ADMIN, Role::Admin).await;
    let api = token(&app, ADMIN).await;
    let user = app
        .add_user("dr.lee@clinic.example", Role::Practitioner)
        .await;
    let location = crate::practitioners::location(&app, &api, "Europe/London").await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;

    let page = admin.get("/setup/practitioners").await;
    assert_eq!(page.status, 200, "{}", page.html);
    page.assert_contains("No practitioners can be booked yet.");
    page.assert_contains(&format!("<option value=\"{user}\""));
    page.assert_contains("dr.lee@clinic.example");

    let user = user.to_string();
    let refused = admin
        .submit(
            "/setup/practitioners",
            &[("user_id", &user), ("discipline", "chiropractic")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Tick at least one location they work at.");
    refused.assert_contains(&format!("<option value=\"{user}\" selected"));
    assert_eq!(
        api_get(&app, &api, "/api/v1/practitioners").await,
        json!([])
    );

    let added = admin
        .submit(
            "/setup/practitioners",
            &[
                ("user_id", &user),
                ("discipline", "chiropractic"),
                ("location_ids", &location),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.html);
    let listed = api_get(&app, &api, "/api/v1/practitioners").await;
    let lee = &listed[0];
    assert_eq!(lee["user_id"], user.as_str());
    assert_eq!(lee["discipline"], "chiropractic");
    assert_eq!(lee["location_ids"], json!([location]));
    assert_eq!(lee["active"], true);
    let id = lee["id"].as_str().unwrap().to_owned();
    assert_eq!(
        added.location(),
        format!("/setup/practitioners/{id}?done=practitioner-added")
    );
    let page = admin.get(added.location()).await;
    page.assert_contains("can now be booked once their hours are set");
    page.assert_contains("Weekly hours");

    // The same account cannot be made bookable twice; the list no longer offers it.
    let list = admin.get("/setup/practitioners").await;
    list.assert_contains(&format!("href=\"/setup/practitioners/{id}\""));
    assert!(!list.text().contains(&format!("<option value=\"{user}\"")));
    let twice = admin
        .submit(
            "/setup/practitioners",
            &[
                ("user_id", &user),
                ("discipline", "chiropractic"),
                ("location_ids", &location),
            ],
        )
        .await;
    assert_eq!(twice.status, 409, "{}", twice.html);
    twice.assert_contains("This account is a practitioner already.");

    let active = format!("/setup/practitioners/{id}/active");
    let off = admin.submit(&active, &[("active", "false")]).await;
    redirected(&off, "/setup/practitioners?done=practitioner-deactivated");
    admin
        .get(off.location())
        .await
        .assert_contains("Their appointments are kept");
    assert_eq!(
        api_get(&app, &api, "/api/v1/practitioners").await[0]["active"],
        false
    );
    let on = admin.submit(&active, &[("active", "true")]).await;
    redirected(&on, "/setup/practitioners?done=practitioner-reactivated");
    assert_eq!(
        api_get(&app, &api, "/api/v1/practitioners").await[0]["active"],
        true
    );

    // One whose account is disabled cannot take bookings again: the page says why.
    admin.submit(&active, &[("active", "false")]).await;
    admin.get("/admin/users").await;
    let disabled = admin
        .submit(&format!("/admin/users/{user}/disable"), &[])
        .await;
    assert_eq!(disabled.status, 303, "{}", disabled.html);
    admin.get("/setup/practitioners").await;
    let refused = admin.submit(&active, &[("active", "true")]).await;
    assert_eq!(refused.status, 409, "{}", refused.html);
    refused.assert_contains("enable it before they take bookings again");
    assert_eq!(
        api_get(&app, &api, "/api/v1/practitioners").await[0]["active"],
        false
    );
}

#[tokio::test]
async fn the_booking_policies_are_edited_on_a_form_and_read_by_the_api() {
    let app = TestApp::spawn().await;
    app.add_user(ADMIN, Role::Admin).await;
    let api = token(&app, ADMIN).await;
    let mut admin = Browser::signed_in(&app, ADMIN).await;
    let before = api_get(&app, &api, "/api/v1/clinic/policies").await;

    let page = admin.get("/setup/policies").await;
    assert_eq!(page.status, 200, "{}", page.html);
    page.assert_contains("<h1>Booking policies</h1>");
    page.assert_contains(&format!(
        "value=\"{}\"",
        before["horizon_days"].as_i64().unwrap()
    ));
    let mut fields = vec![
        ("slot_grid_minutes", "15"),
        ("min_notice_minutes", "60"),
        ("horizon_days", "soon"),
        ("cancellation_window_minutes", "1440"),
        ("reminder_lead_minutes", "720"),
        ("follow_up_delay_days", "21"),
    ];
    let refused = admin.submit("/setup/policies", &fields).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Enter the booking horizon (days) as a whole number.");
    refused.assert_contains("value=\"soon\"");
    fields[2].1 = "120";
    fields[0].1 = "7";
    let off_grid = admin.submit("/setup/policies", &fields).await;
    assert_eq!(off_grid.status, 422, "{}", off_grid.html);
    off_grid.assert_contains("id=\"slot_grid_minutes-error\"");
    assert_eq!(api_get(&app, &api, "/api/v1/clinic/policies").await, before);

    fields[0].1 = "15";
    let saved = admin.submit("/setup/policies", &fields).await;
    redirected(&saved, "/setup/policies?done=policies-saved");
    admin
        .get(saved.location())
        .await
        .assert_contains("The booking policies are saved.");
    assert_eq!(
        api_get(&app, &api, "/api/v1/clinic/policies").await,
        json!({
            "slot_grid_minutes": 15,
            "min_notice_minutes": 60,
            "horizon_days": 120,
            "cancellation_window_minutes": 1440,
            "reminder_lead_minutes": 720,
            "follow_up_delay_days": 21,
        })
    );
}

#[tokio::test]
async fn the_desk_sets_hours_and_time_off_that_clashes_is_added_only_when_kept() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    clinic.app.expect_unsent_mail();
    let app = &clinic.app;
    app.add_user(DESK, Role::Staff).await;
    let practitioner = clinic.practitioner.clone();
    let page_path = format!("/setup/practitioners/{practitioner}");
    let mut desk = Browser::signed_in(app, DESK).await;

    let home = desk.get("/").await;
    home.assert_contains("href=\"/setup/practitioners\"");
    let list = desk.get("/setup/practitioners").await;
    list.assert_contains(&format!("href=\"{page_path}\""));
    let page = desk.get(&page_path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    page.assert_contains("id=\"hours-0-mon\"");
    page.assert_contains("value=\"09:00-12:00, 13:00-17:00\"");
    page.assert_contains("No time off to come.");

    // Weekly hours: a day written wrongly, then one off the grid, then saved.
    let mut week: Vec<(String, String)> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| {
            let hours = if matches!(*day, "sat" | "sun") {
                ""
            } else {
                "09:00-12:00, 13:00-17:00"
            };
            (format!("hours-0-{day}"), hours.to_owned())
        })
        .collect();
    let hours_path = format!("{page_path}/hours");
    let submit_week = |week: &Vec<(String, String)>| {
        week.iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect::<Vec<_>>()
    };
    week[4].1 = "nine till noon".into();
    let fields = submit_week(&week);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let refused = desk.submit(&hours_path, &refs).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Write Friday's hours as start-end times");
    refused.assert_contains("value=\"nine till noon\"");
    week[4].1 = "09:07-12:00".into();
    let fields = submit_week(&week);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let refused = desk.submit(&hours_path, &refs).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Friday: ");
    refused.assert_contains("id=\"hours-0-fri-error\"");
    week[4].1 = "09:00-12:00".into();
    let fields = submit_week(&week);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let saved = desk.submit(&hours_path, &refs).await;
    redirected(&saved, &format!("{page_path}?done=hours-saved"));
    let hours = api_get(
        app,
        &clinic.staff,
        &format!("/api/v1/practitioners/{practitioner}/working-hours"),
    )
    .await;
    let fridays: Vec<&Value> = hours["locations"][0]["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|interval| interval["weekday"] == "friday")
        .collect();
    assert_eq!(fridays.len(), 1, "{hours}");
    assert_eq!(fridays[0]["end"], "12:00");
    desk.get(saved.location())
        .await
        .assert_contains("value=\"09:00-12:00\"");

    // Wednesday 4 March 14:00 (the test clock's zone is UTC, London is on GMT): a booked visit.
    let booked = clinic
        .book(
            &clinic.patient,
            "visit",
            clinic.booking(&clinic.new_visit, "2026-03-04T14:00:00Z"),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked: Value = booked.json().await.unwrap();
    let appointment = booked["id"].as_str().unwrap().to_owned();
    let time_off_api = format!("/api/v1/practitioners/{practitioner}/time-off");
    let time_off_path = format!("{page_path}/time-off");

    // Mistakes in the dates.
    let refused = desk
        .submit(
            &time_off_path,
            &[
                ("start_date", "next Tuesday"),
                ("start_time", "09:00"),
                ("end_date", "2026-03-05"),
                ("end_time", "9am"),
                ("reason", "Course"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Enter the first date as year-month-day");
    refused.assert_contains("Enter the last time as hours:minutes");
    refused.assert_contains("value=\"next Tuesday\"");
    let backwards = desk
        .submit(
            &time_off_path,
            &[
                ("start_date", "2026-03-05"),
                ("start_time", "12:00"),
                ("end_date", "2026-03-05"),
                ("end_time", "09:00"),
                ("reason", "Course"),
            ],
        )
        .await;
    assert_eq!(backwards.status, 422, "{}", backwards.html);
    backwards.assert_contains("There is a problem");
    assert_eq!(api_get(app, &clinic.staff, &time_off_api).await, json!([]));

    // Without a clash it is added at once.
    let added = desk
        .submit(
            &time_off_path,
            &[
                ("start_date", "2026-03-05"),
                ("start_time", "09:00"),
                ("end_date", "2026-03-05"),
                ("end_time", "12:00"),
                ("reason", "Course"),
            ],
        )
        .await;
    redirected(&added, &format!("{page_path}?done=time-off-added"));
    let listed = api_get(app, &clinic.staff, &time_off_api).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(instant(&listed[0]["starts_at"]), "2026-03-05T09:00:00Z");
    assert_eq!(instant(&listed[0]["ends_at"]), "2026-03-05T12:00:00Z");
    let course = listed[0]["id"].as_str().unwrap().to_owned();
    let page = desk.get(added.location()).await;
    page.assert_contains("The time off is added.");
    page.assert_contains("Course");

    // Over the booked visit: the visit is listed, nothing is added.
    let clash = [
        ("start_date", "2026-03-04"),
        ("start_time", "09:00"),
        ("end_date", "2026-03-04"),
        ("end_time", "17:00"),
        ("reason", "Training"),
    ];
    let clashing = desk.submit(&time_off_path, &clash).await;
    assert_eq!(clashing.status, 409, "{}", clashing.html);
    clashing.assert_contains("Booked appointments fall in this time off");
    clashing.assert_contains("Alex Morgan");
    clashing.assert_contains(&format!("href=\"/desk/patients/{}\"", clinic.patient_id));
    clashing.assert_contains("href=\"/desk?date=2026-03-04\"");
    clashing.assert_contains("Wed 4 Mar 2026, 14:00");
    clashing.assert_contains("Keep these appointments and add the time off anyway");
    clashing.assert_contains("name=\"keep_appointments\" value=\"true\"");
    clashing.assert_contains("value=\"Training\"");
    assert_eq!(
        api_get(app, &clinic.staff, &time_off_api)
            .await
            .as_array()
            .unwrap()
            .len(),
        1,
        "not added before the desk decides"
    );

    // Kept: the time off is added and the visit stays booked.
    let mut kept = clash.to_vec();
    kept.push(("keep_appointments", "true"));
    let confirmed = desk.submit(&time_off_path, &kept).await;
    redirected(&confirmed, &format!("{page_path}?done=time-off-kept"));
    desk.get(confirmed.location())
        .await
        .assert_contains("the appointments in it are kept");
    let listed = api_get(app, &clinic.staff, &time_off_api).await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|period| instant(&period["starts_at"]) == "2026-03-04T09:00:00Z")
    );
    let visit = api_get(
        app,
        &clinic.staff,
        &format!("/api/v1/appointments/{appointment}"),
    )
    .await;
    assert_eq!(visit["status"], "booked");

    // Removed.
    let removed = desk
        .submit(&format!("{time_off_path}/{course}/remove"), &[])
        .await;
    redirected(&removed, &format!("{page_path}?done=time-off-removed"));
    let listed = api_get(app, &clinic.staff, &time_off_api).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_ne!(listed[0]["id"], course.as_str());
    let again = desk
        .submit(&format!("{time_off_path}/{course}/remove"), &[])
        .await;
    assert_eq!(again.status, 404);

    // Where they work: at least one location.
    let refused = desk.submit(&page_path, &[]).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    refused.assert_contains("Tick at least one location they work at.");
}

#[tokio::test]
async fn only_the_desk_and_admins_open_the_settings_and_forms_need_their_token() {
    let clinic = clinic(TestApp::spawn().await, "Europe/London").await;
    let app = &clinic.app;
    let practitioner = clinic.practitioner.clone();
    let pages = [
        "/setup".to_owned(),
        "/setup/locations".to_owned(),
        "/setup/appointment-types".to_owned(),
        "/setup/practitioners".to_owned(),
        "/setup/policies".to_owned(),
        format!("/setup/practitioners/{practitioner}"),
    ];
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/setup/locations".into(),
            vec![
                ("name", "Elsewhere"),
                ("address", "1 Road"),
                ("time_zone", "Europe/London"),
            ],
        ),
        (
            format!("/setup/locations/{}/active", clinic.location),
            vec![("active", "false")],
        ),
        (
            format!("/setup/appointment-types/{}/active", clinic.new_visit),
            vec![("active", "false")],
        ),
        (
            format!("/setup/practitioners/{practitioner}/active"),
            vec![("active", "false")],
        ),
        (
            "/setup/policies".into(),
            vec![
                ("slot_grid_minutes", "15"),
                ("min_notice_minutes", "0"),
                ("horizon_days", "1"),
                ("cancellation_window_minutes", "0"),
                ("reminder_lead_minutes", "0"),
                ("follow_up_delay_days", "0"),
            ],
        ),
        (
            format!("/setup/practitioners/{practitioner}/hours"),
            vec![("hours-0-mon", "")],
        ),
        (
            format!("/setup/practitioners/{practitioner}/time-off"),
            vec![
                ("start_date", "2026-03-10"),
                ("start_time", "09:00"),
                ("end_date", "2026-03-10"),
                ("end_time", "10:00"),
                ("reason", "Away"),
            ],
        ),
    ];
    app.add_user("dr.kay@clinic.example", Role::Practitioner)
        .await;
    for (email, role) in [
        (crate::appointments::PATIENT_EMAIL, Role::Patient),
        ("dr.kay@clinic.example", Role::Practitioner),
    ] {
        let mut browser = Browser::signed_in(app, email).await;
        for page in &pages {
            let refused = browser.get(page).await;
            assert_eq!(refused.status, 403, "{role:?} {page}");
            refused.assert_contains("You cannot open this page");
        }
        browser.get("/").await;
        for (path, fields) in &forms {
            let refused = browser.submit(path, fields).await;
            assert_eq!(refused.status, 403, "{role:?} {path}");
        }
        let home = browser.get("/").await;
        assert!(!home.text().contains("/setup"), "{role:?}");
    }
    for page in &pages {
        let anonymous = Browser::new(app).get(page).await;
        assert_eq!(anonymous.status, 303, "{page}");
        assert!(
            anonymous.location().starts_with("/login?next="),
            "{}",
            anonymous.location()
        );
    }

    // Nothing changed; and without the form's token neither the desk nor an admin changes it.
    app.add_user(ADMIN, Role::Admin).await;
    let mut admin = Browser::signed_in(app, ADMIN).await;
    admin.get("/setup").await;
    for (path, fields) in &forms {
        let forged = admin.post_form(path, fields).await;
        assert_eq!(forged.status, 403, "{path}");
        forged.assert_contains("This form has expired");
    }
    let locations = api_get(app, &clinic.staff, "/api/v1/locations").await;
    assert_eq!(locations.as_array().unwrap().len(), 1);
    assert_eq!(locations[0]["active"], true);
    let listed = api_get(app, &clinic.staff, "/api/v1/practitioners").await;
    assert_eq!(listed[0]["active"], true);
    let types = api_get(app, &clinic.staff, "/api/v1/appointment-types").await;
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .all(|kind| kind["active"] == true)
    );
    let time_off = api_get(
        app,
        &clinic.staff,
        &format!("/api/v1/practitioners/{practitioner}/time-off"),
    )
    .await;
    assert_eq!(time_off, json!([]));
    assert_eq!(
        api_get(app, &clinic.staff, "/api/v1/clinic/policies").await["horizon_days"],
        90
    );
}
