// A menu written with Vumi's JavaScript sandbox toolkit (vumigo_v02), as apps for Vumi's
// JsSandbox were: ruvuma's `sandbox` application runs it unchanged. The user's answers are kept
// in the sandbox's kv store, so a returning user is greeted by name in a new session.
var vumigo = require('vumigo_v02');
var App = vumigo.App;
var Choice = vumigo.states.Choice;
var ChoiceState = vumigo.states.ChoiceState;
var FreeText = vumigo.states.FreeText;
var EndState = vumigo.states.EndState;

var Menu = App.extend(function(self) {
    App.call(self, 'states:start');

    self.states.add('states:start', function(name) {
        var known = self.im.user.answers['states:name'];
        return new ChoiceState(name, {
            question: known ? 'Welcome back, ' + known + '! Tea or coffee?' : 'Tea or coffee?',
            choices: [new Choice('tea', 'Tea'), new Choice('coffee', 'Coffee')],
            next: known ? 'states:end' : 'states:name'
        });
    });

    self.states.add('states:name', function(name) {
        return new FreeText(name, {
            question: 'Your name?',
            next: 'states:end'
        });
    });

    self.states.add('states:end', function(name) {
        var drink = self.im.user.answers['states:start'];
        var who = self.im.user.answers['states:name'];
        return new EndState(name, {
            text: 'One ' + drink + ' for ' + who + '. Bye!',
            next: 'states:start'
        });
    });
});

vumigo.interact(api, Menu);
