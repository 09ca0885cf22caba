// The mailing form: "would reach now" under the audience fields, counted by the server
// (mailings/admin/reach.py) whenever the lists, clients or "all clients" change, before
// the mailing is saved too.
(function () {
    "use strict";
    var match = window.location.pathname.match(/^(.*\/mailing\/)(add|[^\/]+\/change)\/$/);
    if (!match) return;
    var reachUrl = match[1] + "reach/";

    function selected(id) {
        var select = document.getElementById(id);
        return select ? Array.prototype.map.call(select.selectedOptions, function (o) { return o.value; }) : [];
    }

    function owner() {
        // The autocompletes ask for one owner's choices; the count is of the same owner.
        var select = document.getElementById("id_lists") || document.getElementById("id_clients");
        var url = select && select.getAttribute("data-ajax--url");
        return url ? new URL(url, window.location.href).searchParams.get("owner") || "" : "";
    }

    function ready() {
        var allClients = document.getElementById("id_all_clients");
        if (!allClients) return;
        var output = document.createElement("p");
        output.id = "mailing-reach";
        output.className = "mt-2 text-sm text-font-subtle-light dark:text-font-subtle-dark";
        output.setAttribute("aria-live", "polite");
        (allClients.closest(".field-all_clients") || allClients.parentNode).appendChild(output);
        var asked = 0;

        function update() {
            var params = new URLSearchParams();
            selected("id_lists").forEach(function (v) { params.append("lists", v); });
            selected("id_clients").forEach(function (v) { params.append("clients", v); });
            if (allClients.checked) params.set("all_clients", "1");
            if (owner()) params.set("owner", owner());
            var mine = ++asked;
            fetch(reachUrl + "?" + params.toString(), {credentials: "same-origin", headers: {"Accept": "application/json"}})
                .then(function (response) { return response.ok ? response.json() : null; })
                .then(function (data) {
                    if (data && mine === asked) {
                        output.textContent = data.text;
                        output.setAttribute("data-count", data.count);
                    }
                });
        }

        ["id_lists", "id_clients"].forEach(function (id) {
            var select = document.getElementById(id);
            if (!select) return;
            select.addEventListener("change", update);
            if (window.django && window.django.jQuery) window.django.jQuery(select).on("change", update);
        });
        allClients.addEventListener("change", update);
        update();
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
    else ready();
})();
