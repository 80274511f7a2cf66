// The page of `mgmrn serve`: photos ranked by the JSON API, attention on request, new classes.
"use strict";

const $ = (id) => document.getElementById(id);
const photos = [];              // {file, card}: the photos on the page, in order
const chosen = new Map();       // attribute name -> its input, for the class being described
let attributeNames = [];
let definedNames = new Set();
// the server's token (mgmrn serve --token), from the address (#token=...), kept for this tab
const token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("mgmrn-token");
if (token) sessionStorage.setItem("mgmrn-token", token);

function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// fetch a JSON answer; an error answer ({"error": "..."}) is thrown with its message
async function api(path, options = {}) {
  const headers = {...options.headers, ...(token ? {Authorization: `Bearer ${token}`} : {})};
  const response = await fetch(path, {...options, headers});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function among() {
  return document.querySelector("input[name=among]:checked").value;
}

function upload(file, fields) {
  const form = new FormData();
  form.append("image", file);
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return {method: "POST", body: form};
}

function tagOf(entry) {
  if (definedNames.has(entry.class) && !entry.seen) return "new";
  return entry.seen ? "seen" : "unseen";
}

function showRanking(photo, top) {
  const list = photo.card.querySelector(".ranking");
  list.replaceChildren(...top.map((entry) => {
    const percent = (100 * entry.probability).toFixed(1);
    const tag = tagOf(entry);
    const item = element("li", {title: `score ${entry.score.toFixed(3)}: click for its attention`}, [
      element("span", {className: "name"}, [entry.class,
        element("span", {className: "bar", style: `width: ${percent}%`})]),
      element("span", {className: "probability", textContent: `${percent}%`}),
      element("span", {className: `tag ${tag}`, textContent: tag}),
    ]);
    item.dataset.class = entry.class;
    item.addEventListener("click", () => showAttention(photo, entry.class, item));
    return item;
  }));
}

async function rank(photo) {
  const error = photo.card.querySelector(".error");
  photo.card.querySelector(".attention").replaceChildren();
  try {
    const answer = await api("api/predict", upload(photo.file, {among: among(), top_k: "5"}));
    error.textContent = "";
    showRanking(photo, answer.top);
  } catch (problem) {
    photo.card.querySelector(".ranking").replaceChildren();
    error.textContent = problem.message;
  }
}

async function showAttention(photo, className, item) {
  const box = photo.card.querySelector(".attention");
  photo.card.querySelectorAll(".ranking li").forEach((li) => li.classList.toggle("chosen", li === item));
  box.replaceChildren(element("p", {textContent: `attention for ${className}…`}));
  photo.card.classList.add("wide");  // the drawing at its own size: its labels readable
  try {
    const answer = await api("api/explain", upload(photo.file, {among: among(), "class": className}));
    const parts = answer.attributes.map((a) => `${a.name} (${a.contribution >= 0 ? "+" : ""}${a.contribution.toFixed(2)})`);
    box.replaceChildren(
      element("p", {textContent: `${answer.class}: strongest attributes ${parts.join(", ")}`}),
      element("p", {className: "hint", textContent: "Each map from its own minimum to its maximum (the colour " +
        "bar); under it, its share of the stage's attention: own tokens, or SCAB's (the coarser stages')."}),
      element("img", {src: `data:image/png;base64,${answer.png}`,
                      alt: `attention of each stage for ${answer.class}`}));
  } catch (problem) {
    box.replaceChildren(element("p", {className: "error", textContent: problem.message}));
  }
}

function addPhotos(files) {
  say("");
  for (const file of files) {
    const card = element("div", {className: "photo"}, [
      element("img", {src: URL.createObjectURL(file), alt: file.name}),
      element("h3", {textContent: file.name}),
      element("ol", {className: "ranking"}),
      element("p", {className: "error"}),
      element("div", {className: "attention"}),
    ]);
    const photo = {file, card};
    photos.push(photo);
    $("photos").append(card);
    rank(photo);
  }
}

function rankAll() {
  return Promise.all(photos.map(rank));
}

function showClasses(listing, switchTo) {
  const seen = listing.run.filter((c) => c.seen).length;
  $("run").textContent = `${listing.run.length} classes of the run (${seen} seen in training, ` +
    `${listing.run.length - seen} unseen); ${listing.defined.length} new`;
  definedNames = new Set(listing.defined.map((c) => c.name));
  $("defined").replaceChildren(...listing.defined.map(definedItem));
  const none = listing.defined.length === 0;
  for (const radio of document.querySelectorAll("input[name=among]")) {
    if (radio.value !== "run") radio.disabled = none;
  }
  if (none) document.querySelector("input[name=among][value=run]").checked = true;
  else if (switchTo) document.querySelector(`input[name=among][value=${switchTo}]`).checked = true;
}

// a defined class: its name, its attribute values, and buttons to edit (into the form) or delete it
function definedItem(c) {
  const edit = element("a", {href: "#", className: "edit", textContent: "edit", title: "into the form, to change it"});
  edit.addEventListener("click", (event) => { event.preventDefault(); editClass(c); });
  const remove = element("button", {type: "button", textContent: "delete"});
  remove.addEventListener("click", () => changeClasses(
    api(`api/classes/${encodeURIComponent(c.name)}`, {method: "DELETE"}), `deleted ${c.name}`));
  const values = Object.entries(c.attributes).map(([name, value]) =>
    element("li", {textContent: `${name} = ${value}`}));
  return element("li", {}, [element("strong", {textContent: c.name}), remove, edit,
                            element("ul", {className: "values"}, values)]);
}

// the form filled with a defined class, to change its values and save it again (same name: replaced)
function editClass(c) {
  clearForm();
  $("class-name").value = c.name;
  for (const [name, value] of Object.entries(c.attributes)) chooseAttribute(name, value);
  say(`editing ${c.name}: change its values, then save it`);
}

function clearForm() {
  for (const id of ["class-name", "attribute-search"]) $(id).value = "";
  chosen.clear();
  $("chosen").tBodies[0].replaceChildren();
  searchAttributes();
}

// after a change of the defined classes: show them, rank among the new ones, run `then` (before
// the photos are re-ranked, so that it cannot undo what the user does meanwhile), re-rank the photos
async function changeClasses(request, done, then = () => {}) {
  try {
    const listing = await request;
    showClasses(listing, among() === "run" ? "defined" : null);
    say(done);
  } catch (problem) {
    say(problem.message, true);
    return;
  }
  then();
  await rankAll();
}

function chooseAttribute(name, initial = 1) {
  if (chosen.has(name)) return;
  const value = element("input", {type: "number", step: "any", value: String(initial)});
  const remove = element("button", {type: "button", textContent: "×", title: "remove"});
  const row = element("tr", {}, [element("td", {textContent: name}), element("td", {}, [value]),
                                 element("td", {}, [remove])]);
  remove.addEventListener("click", () => { chosen.delete(name); row.remove(); });
  chosen.set(name, value);
  $("chosen").tBodies[0].append(row);
}

// the part of an attribute name before "::" or "=" (CUB's has_bill_shape::..., shape=circle)
function groupOf(name) {
  const cut = name.search(/::|=/);
  return cut > 0 ? name.slice(0, cut) : "";
}

// the attributes matching every typed word; all of them, under their groups, when none is typed
function searchAttributes() {
  const words = $("attribute-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = attributeNames.filter((n) => words.every((w) => n.toLowerCase().includes(w)));
  const items = [];
  let group = null;
  for (const name of matches) {
    if (groupOf(name) !== group && groupOf(name)) {
      items.push(element("li", {className: "group", textContent: groupOf(name)}));
    }
    group = groupOf(name);
    const item = element("li", {textContent: name});
    item.addEventListener("click", () => chooseAttribute(name));
    items.push(item);
  }
  $("attribute-matches").replaceChildren(...items);
}

function defineClass() {
  const name = $("class-name").value.trim();
  if (!name) return say("name the class first", true);
  if (!chosen.size) return say("set at least one attribute (choose it in the list)", true);
  const values = {};
  for (const [attribute, input] of chosen) values[attribute] = Number(input.value);
  const body = JSON.stringify({classes: [{name, attributes: values}]});
  changeClasses(api("api/classes", {method: "POST", headers: {"Content-Type": "application/json"}, body}),
                `defined ${name}`, clearForm);
}

function uploadCsv() {
  const file = $("csv").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  changeClasses(api("api/classes/csv", {method: "POST", body: form}), `defined the classes of ${file.name}`);
  $("csv").value = "";
}

function setUp() {
  const drop = $("drop");
  $("files").addEventListener("change", (event) => { addPhotos(event.target.files); event.target.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addPhotos(event.dataTransfer.files);
  });
  document.querySelectorAll("input[name=among]").forEach((radio) => radio.addEventListener("change", () => {
    say("");
    rankAll();
  }));
  $("attribute-search").addEventListener("input", searchAttributes);
  $("define").addEventListener("click", defineClass);
  $("csv").addEventListener("change", uploadCsv);
  Promise.all([api("api/classes"), api("api/attributes")]).then(([listing, attributes]) => {
    attributeNames = attributes.attributes;
    showClasses(listing, null);
    searchAttributes();
  }).catch((problem) => say(problem.message, true));
}

setUp();
