/* authgate passkeys: the WebAuthn ceremonies of the login and passkeys pages.
 *
 * No inline script anywhere (the pages' Content-Security-Policy allows this
 * file only). Options come from the JSON API (POST <prefix>/passkey/...);
 * the answers go back to it as WebAuthn JSON (binary values in base64url),
 * with the state the options carried. Signed-in requests carry the page's
 * CSRF token in X-CSRF-Token, like every cookie-authenticated API call.
 */
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: toBytes(c.id), transports: c.transports };
    });
  }

  function creationOptions(o) {
    var options = Object.assign({}, o);
    delete options.state;
    options.challenge = toBytes(o.challenge);
    options.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
    options.excludeCredentials = descriptors(o.excludeCredentials);
    return options;
  }

  function requestOptions(o) {
    var options = Object.assign({}, o);
    delete options.state;
    options.challenge = toBytes(o.challenge);
    options.allowCredentials = descriptors(o.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    };
  }

  function post(url, body, csrf) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (csrf) { headers["X-CSRF-Token"] = csrf; }
    return fetch(url, {
      method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error((data.error && data.error.message) || response.statusText);
          error.code = data.error && data.error.code;
          throw error;
        }
        return data;
      });
    });
  }

  function show(box, text) {
    var alert = box.querySelector("[data-passkey-error]");
    if (alert) { alert.textContent = text; alert.hidden = false; }
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  // -- the login page: a button, and the browser's own suggestions (conditional UI) --------
  function signIn(box) {
    var api = box.getAttribute("data-api"), pending = null;

    function run(mediation) {
      if (pending) { pending.abort(); }
      var controller = new AbortController();
      pending = controller;
      return post(api + "/passkey/sign-in/options", {}).then(function (options) {
        var request = { publicKey: requestOptions(options), signal: controller.signal };
        if (mediation) { request.mediation = mediation; }
        return navigator.credentials.get(request).then(function (credential) {
          return post(api + "/passkey/sign-in", {
            credential: credentialJSON(credential), state: options.state
          });
        });
      }).then(function () {
        window.location.assign(box.getAttribute("data-next"));
      });
    }

    var button = box.querySelector("[data-passkey-sign-in]");
    if (!supported()) {
      if (button) { button.hidden = true; }
      return;
    }
    if (button) {
      button.addEventListener("click", function () {
        run(null).catch(function (error) {
          if (error && error.name === "AbortError") { return; }
          show(box, box.getAttribute("data-failed"));
        });
      });
    }
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) {
          // Silent when it fails: the visitor did not ask for anything yet.
          run("conditional").catch(function () {});
        }
      });
    }
  }

  // -- the passkeys page: add one -----------------------------------------------------------
  function register(box) {
    var api = box.getAttribute("data-api"), csrf = box.getAttribute("data-csrf");
    var button = box.querySelector("[data-passkey-add]");
    if (!supported()) {
      button.disabled = true;
      show(box, box.getAttribute("data-unsupported"));
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      var name = box.querySelector("[data-passkey-name]");
      post(api + "/passkey/register/options", {}, csrf).then(function (options) {
        return navigator.credentials.create({ publicKey: creationOptions(options) })
          .then(function (credential) {
            return post(api + "/passkey/register", {
              credential: credentialJSON(credential), state: options.state,
              name: name && name.value.trim() ? name.value.trim() : undefined
            }, csrf);
          });
      }).then(function () {
        window.location.assign(box.getAttribute("data-done"));
      }).catch(function (error) {
        button.disabled = false;
        if (error && error.code === "REAUTH_REQUIRED") {
          window.location.assign(box.getAttribute("data-reauth"));
          return;
        }
        show(box, box.getAttribute("data-failed"));
      });
    });
  }

  // -- a page form sent with a passkey's answer (the sign-in's second step, reauthenticate) --
  function passkeyForm(form) {
    var api = form.getAttribute("data-api");
    form.addEventListener("submit", function (event) {
      var credential = form.querySelector("[data-passkey-credential]");
      if (credential.value) { return; }  // the answer is in: send the form
      event.preventDefault();
      if (!supported()) { show(form, form.getAttribute("data-failed")); return; }
      post(api + "/passkey/sign-in/options", {}).then(function (options) {
        return navigator.credentials.get({ publicKey: requestOptions(options) })
          .then(function (answer) {
            credential.value = JSON.stringify(credentialJSON(answer));
            form.querySelector("[data-passkey-state]").value = options.state;
            form.submit();
          });
      }).catch(function () {
        show(form, form.getAttribute("data-failed"));
      });
    });
  }

  function start() {
    var login = document.getElementById("ag-passkey-login");
    if (login) { signIn(login); }
    var add = document.getElementById("ag-passkey-register");
    if (add) { register(add); }
    var forms = document.querySelectorAll("form[data-passkey-form]");
    for (var i = 0; i < forms.length; i++) { passkeyForm(forms[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
