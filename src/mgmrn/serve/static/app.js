// The page of `mgmrn serve`: photos ranked by the JSON API, attention on request, new classes.
"use strict";

const $ = (id) => document.getElementById(id);
const photos = [];              // {file, card}: the photos on the page, in order
const chosen = new Map();       // attribute name -> its input, for the class being described
let attributeNames = [];
let definedNames = new Set();

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
  const response = await fetch(path, options);
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
  try {
    const answer = await api("api/explain", upload(photo.file, {among: among(), "class": className}));
    const parts = answer.attributes.map((a) => `${a.name} (${a.contribution >= 0 ? "+" : ""}${a.contribution.toFixed(2)})`);
    box.replaceChildren(
      element("p", {textContent: `${answer.class}: strongest attributes ${parts.join(", ")}`}),
      element("img", {src: `data:image/png;base64,${answer.png}`,
                      alt: `attention of each stage for ${answer.class}`}));
  } catch (problem) {
    box.replaceChildren(element("p", {className: "error", textContent: problem.message}));
  }
}

function addPhotos(files) {
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
  $("defined").replaceChildren(...listing.defined.map((c) => {
    const remove = element("button", {type: "button", textContent: "delete"});
    remove.addEventListener("click", () => changeClasses(
      api(`api/classes/${encodeURIComponent(c.name)}`, {method: "DELETE"}), `deleted ${c.name}`));
    return element("li", {}, [c.name, remove]);
  }));
  const none = listing.defined.length === 0;
  for (const radio of document.querySelectorAll("input[name=among]")) {
    if (radio.value !== "run") radio.disabled = none;
  }
  if (none) document.querySelector("input[name=among][value=run]").checked = true;
  else if (switchTo) document.querySelector(`input[name=among][value=${switchTo}]`).checked = true;
}

// after a change of the defined classes: show them, rank among the new ones, re-rank the
// photos; true if the change was made
async function changeClasses(request, done) {
  try {
    const listing = await request;
    showClasses(listing, among() === "run" ? "defined" : null);
    say(done);
  } catch (problem) {
    say(problem.message, true);
    return false;
  }
  await rankAll();
  return true;
}

function chooseAttribute(name) {
  if (chosen.has(name)) return;
  const value = element("input", {type: "number", step: "any", value: "1"});
  const remove = element("button", {type: "button", textContent: "×", title: "remove"});
  const row = element("tr", {}, [element("td", {textContent: name}), element("td", {}, [value]),
                                 element("td", {}, [remove])]);
  remove.addEventListener("click", () => { chosen.delete(name); row.remove(); });
  chosen.set(name, value);
  $("chosen").tBodies[0].append(row);
}

function searchAttributes() {
  const words = $("attribute-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = words.length ? attributeNames.filter((n) => words.every((w) => n.toLowerCase().includes(w))) : [];
  $("attribute-matches").replaceChildren(...matches.slice(0, 50).map((name) => {
    const item = element("li", {textContent: name});
    item.addEventListener("click", () => chooseAttribute(name));
    return item;
  }));
}

function defineClass() {
  const name = $("class-name").value.trim();
  if (!name) return say("name the class first", true);
  if (!chosen.size) return say("set at least one attribute (search for it)", true);
  const values = {};
  for (const [attribute, input] of chosen) values[attribute] = Number(input.value);
  const body = JSON.stringify({classes: [{name, attributes: values}]});
  changeClasses(api("api/classes", {method: "POST", headers: {"Content-Type": "application/json"}, body}),
                `defined ${name}`).then((made) => {
    if (!made) return;
    for (const id of ["class-name", "attribute-search"]) $(id).value = "";
    chosen.clear();
    $("chosen").tBodies[0].replaceChildren();
    $("attribute-matches").replaceChildren();
  });
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
  document.querySelectorAll("input[name=among]").forEach((radio) => radio.addEventListener("change", rankAll));
  $("attribute-search").addEventListener("input", searchAttributes);
  $("define").addEventListener("click", defineClass);
  $("csv").addEventListener("change", uploadCsv);
  Promise.all([api("api/classes"), api("api/attributes")]).then(([listing, attributes]) => {
    attributeNames = attributes.attributes;
    showClasses(listing, null);
  }).catch((problem) => say(problem.message, true));
}

setUp();
